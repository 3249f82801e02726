"""ASGI middleware in front of every route: metrics, API key, rate limit, body size limit."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from neurank.serve.metrics import ServiceMetrics
from neurank.serve.ratelimit import RateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# reachable without a key: the liveness probe, the web page (which asks for the key itself)
# and the API's description (a browser cannot send the key header to open /docs)
OPEN_PATHS = ("/health", "/", "/favicon.ico", "/docs", "/openapi.json")
OPEN_PREFIXES = ("/static/", "/docs-assets/")


async def _send_json(send: Send, status: int, detail: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Wraps the app; rejections are JSON `{"detail": ...}` like every other error."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, max_body_bytes: int,
                 api_key: str | None, limiter: RateLimiter | None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.api_key = api_key.encode() if api_key else None
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        self.metrics.in_flight.inc()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send_and_record)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or (
                scope["path"] if scope["path"] in OPEN_PATHS else "unmatched")
            self.metrics.observe(scope["method"], endpoint, status, time.perf_counter() - started)

    def _client(self, scope: Scope, authenticated: bool) -> str:
        """The rate-limit bucket: the (checked) API key, else the client's IP. An unchecked
        X-API-Key header never picks the bucket, or rotating it would dodge the limit."""
        if authenticated and self.api_key is not None:
            return "key"
        client = scope.get("client")
        return "ip:" + (client[0] if client else "unknown")

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        path = scope["path"]
        is_open = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        authenticated = self.api_key is not None and hmac.compare_digest(
            headers.get(b"x-api-key", b""), self.api_key)
        # limited before the key check, so failed authentications count against the limit too
        if self.limiter and not is_open:
            wait = self.limiter.acquire(self._client(scope, authenticated))
            if wait > 0:
                retry = self.limiter.retry_after(wait)
                await _send_json(send, 429, f"rate limit of {self.limiter.rate:g} requests/s "
                                 f"exceeded; retry after {retry} s",
                                 [(b"retry-after", retry.encode())])
                return
        if self.api_key and not is_open and not authenticated:
            await _send_json(send, 401, "missing or wrong API key: send it in the X-API-Key "
                             "header", [(b"www-authenticate", b"ApiKey")])
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_json(send, 400, "invalid Content-Length header")
                return
            if size > self.max_body_bytes:
                await _send_json(send, 413, f"request body of {size} bytes is over the limit of "
                                 f"{self.max_body_bytes} bytes")
                return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read_body(receive)
            if body is None:
                await _send_json(send, 413, f"request body is over the limit of "
                                 f"{self.max_body_bytes} bytes")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit (chunked uploads included)."""
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the buffered body to the app once, then passes on the client's later messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
