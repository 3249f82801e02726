"""Per-client token buckets: `rate` requests per second on average, `burst` at once."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict


class RateLimiter:
    """Token bucket per client key; `acquire` says how long to wait when a client is over."""

    def __init__(self, rate: float, burst: int, *, max_clients: int = 100_000,
                 clock=time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, updated
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0 when the request may go ahead; else the seconds until one token is back."""
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            # forgetting the least recently seen client only ever gives it a full bucket back
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """Retry-After header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))
