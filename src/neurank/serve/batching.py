"""Micro-batching: requests that arrive while the workers are busy are handled together.

Nothing waits on a timer: a request that finds a worker free runs at once, alone. Under load,
the requests that queued meanwhile form the next batch, so the query encoder runs one forward
pass for many queries instead of one each.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

BatchRunner = Callable[[Sequence[Job]], Sequence["Result | BaseException"]]
Offload = Callable[..., Awaitable[Any]]


class MicroBatcher(Generic[Job, Result]):
    """Runs `run_batch` on up to `max_batch` queued jobs at a time, off the event loop.

    `offload(fn, arg)` runs `fn(arg)` on a worker thread. `run_batch` returns one result per
    job, or an exception instance for a job that failed (raised to that job's caller only).
    """

    def __init__(self, run_batch: BatchRunner, offload: Offload, *, workers: int,
                 max_batch: int = 32, on_batch: Callable[[int], None] | None = None) -> None:
        self._run_batch = run_batch
        self._offload = offload
        self._workers = workers
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._queue: deque[tuple[Job, asyncio.Future[Result]]] = deque()
        self._active = 0

    async def submit(self, job: Job) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        if self._active < self._workers:
            self._active += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft()
                         for _ in range(min(self._max_batch, len(self._queue)))]
                if self._on_batch:
                    self._on_batch(len(batch))
                jobs = [job for job, _ in batch]
                try:
                    results = await self._offload(self._run_batch, jobs)
                except BaseException as exc:  # the whole batch failed: every caller hears why
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the caller went away (client disconnected)
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._active -= 1
