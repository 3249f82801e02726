"""Load benchmark of `neurank serve`: open loop at a fixed rate, closed loop with N clients.

    python benchmarks/load.py --dataset ../shared/data/scifact --rec-data ../shared/data/ncf-lastfm

Starts the real server (`neurank serve`) on a free loopback port, then per endpoint:
- open loop: requests are *scheduled* at --rate per second for --duration seconds, whether
  or not earlier ones have answered; latency counts from the scheduled time, so queueing in
  the server is included (no coordinated omission);
- closed loop: --clients clients each send their next request when the last one answered,
  for --duration seconds; the throughput is the maximum the server sustains.
Everything is bounded in count and time and stops by itself. The collection (SciFact, hybrid)
and the NeuMF checkpoint (lastfm) are built once and cached under --work. The in-process
latency of the same calls is measured first, so the table shows what HTTP adds.
Client and server share this machine's cores: the figures include the load generator's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

MAX_CONNECTIONS = 256  # the open loop never holds more sockets than this
console = Console(width=None if sys.stdout.isatty() else 160)


# ---------------------------------------------------------------------- a small HTTP/1.1 client
class Connection:
    """One keep-alive HTTP/1.1 connection (asyncio streams; little client-side CPU)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes) -> int:
        head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed an idle keep-alive connection
            raise ConnectionResetError("connection closed by the server")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


CLIENT_FAILURES = (OSError, asyncio.TimeoutError, ValueError, IndexError,
                   asyncio.IncompleteReadError)


async def send(connection: Connection, path: str, body: bytes,
               reopen: tuple[str, int] | None = None) -> int:
    """POST on a connection; a reused one that the server had closed is reopened once (the
    request never reached the server, so sending it again is safe)."""
    try:
        return await asyncio.wait_for(connection.request("POST", path, body), 30)
    except ConnectionResetError:
        if reopen is None:
            raise
    connection.close()
    fresh = await Connection.open(*reopen)
    connection.reader, connection.writer = fresh.reader, fresh.writer
    return await asyncio.wait_for(connection.request("POST", path, body), 30)


@dataclass
class Phase:
    endpoint: str
    kind: str  # "open" or "closed"
    load: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int | str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self, status: int | str, ms: float) -> None:
        """An HTTP status, or the name of the client-side failure."""
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.latencies_ms.append(ms)
        else:
            self.errors += 1

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.asarray([np.nan])
        done = len(self.latencies_ms) + self.errors
        return {"endpoint": self.endpoint, "kind": self.kind, "load": self.load,
                "requests": done, "errors": self.errors, "statuses": self.statuses,
                "throughput_rps": done / self.seconds if self.seconds else 0.0,
                "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
                "p99_ms": float(np.percentile(lat, 99))}


async def open_loop(host: str, port: int, phase: Phase, bodies: list[bytes], rate: float,
                    duration: float) -> Phase:
    """Requests scheduled every 1/rate s; latency measured from the scheduled send time."""
    idle: list[Connection] = []
    opened = 0
    tasks = []

    async def one(scheduled: float, body: bytes) -> None:
        nonlocal opened
        connection = idle.pop() if idle else None
        try:
            if connection is None:
                if opened >= MAX_CONNECTIONS:
                    phase.record("client saturated", 0.0)  # the server is too far behind
                    return
                opened += 1
                connection = await Connection.open(host, port)
            status = await send(connection, phase.endpoint, body, reopen=(host, port))
            phase.record(status, (time.perf_counter() - scheduled) * 1000)
            idle.append(connection)
        except CLIENT_FAILURES as exc:
            phase.record(type(exc).__name__, 0.0)
            if connection is not None:
                connection.close()
                opened -= 1

    count = int(rate * duration)
    start = time.perf_counter()
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, bodies[i % len(bodies)])))
    await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - start
    for connection in idle:
        connection.close()
    return phase


async def closed_loop(host: str, port: int, phase: Phase, bodies: list[bytes], clients: int,
                      duration: float) -> Phase:
    """`clients` connections, each sending its next request when the previous one answered."""
    deadline = time.perf_counter() + duration

    async def client(offset: int) -> None:
        connection = await Connection.open(host, port)
        i = offset
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = await send(connection, phase.endpoint, bodies[i % len(bodies)])
                except CLIENT_FAILURES as exc:
                    phase.record(type(exc).__name__, 0.0)
                    connection.close()
                    connection = await Connection.open(host, port)
                    continue
                phase.record(status, (time.perf_counter() - started) * 1000)
                i += clients
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*[client(c) for c in range(clients)])
    phase.seconds = time.perf_counter() - start
    return phase


# ---------------------------------------------------------------------- set-up
def ensure_collection(dataset: Path, work: Path) -> Path:
    from neurank.data import read_corpus
    from neurank.index import Collection

    folder = work / dataset.name / "collection"
    if (folder / "manifest.json").exists():
        return folder
    console.print(f"building the {dataset.name} collection in {folder} (encodes the corpus once)")
    Collection.build(folder, read_corpus(dataset))
    return folder


def ensure_recommender(data: Path, work: Path, model: str) -> Path:
    folder = work / "load" / f"{model}-{data.name.removeprefix('ncf-')}"
    if (folder / "manifest.json").exists():
        return folder
    console.print(f"training {model} on {data} into {folder}")
    subprocess.run([sys.executable, "-m", "neurank.cli", "rec", "train", "--data", str(data),
                    "--model", model, "--out", str(folder)], check=True)
    return folder


def test_queries(dataset: Path, split: str) -> list[str]:
    from neurank.data import read_beir

    data = read_beir(dataset, split)
    return [data.queries[q] for q in sorted(data.qrels)]


def in_process_latency(collection: Path, recommender: Path, queries: list[str],
                       users: list[str], k: int) -> dict[str, float]:
    """p50/p95 of the same calls without HTTP (the reference the service is compared with)."""
    from neurank.index import Collection
    from neurank.recommend import load_recommender
    from neurank.search import SearchPipeline

    pipeline = SearchPipeline(Collection.load(collection))
    model = load_recommender(recommender)
    out = {}
    for name, call, inputs in (
        ("search", lambda q: pipeline.search(q, k=k, mode="hybrid"), queries[:200]),
        ("recommend", lambda u: model.recommend([u], k), users[:200]),
    ):
        for item in inputs[:5]:
            call(item)
        samples = []
        for item in inputs:
            started = time.perf_counter()
            call(item)
            samples.append((time.perf_counter() - started) * 1000)
        out[f"{name}_p50_ms"] = float(np.percentile(samples, 50))
        out[f"{name}_p95_ms"] = float(np.percentile(samples, 95))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(collection: Path, recommender: Path, port: int, workers: int,
                 log: Path) -> subprocess.Popen:
    env = {**os.environ}
    env.pop("NEURANK_API_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "neurank.cli", "serve", "--collection", str(collection),
         "--recommender", str(recommender), "--port", str(port), "--workers", str(workers),
         "--preload"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise SystemExit("the server did not answer /health within 300 s") from None
            time.sleep(0.5)


def batch_counts(port: int) -> tuple[float, float]:
    """(queries, batches) searched so far, from the server's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "neurank_search_batch_size":
            values = {s.name: s.value for s in family.samples}
            return (values.get("neurank_search_batch_size_sum", 0.0),
                    values.get("neurank_search_batch_size_count", 0.0))
    return 0.0, 0.0


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR folder (SciFact)")
    parser.add_argument("--split", default="test", help="queries of this qrels split are sent")
    parser.add_argument("--rec-data", type=Path, required=True, help="NCF folder (lastfm)")
    parser.add_argument("--rec-model", default="neumf")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop requests per second")
    parser.add_argument("--clients", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="server worker threads")
    parser.add_argument("--search-p95-ms", type=float, default=50.0)
    parser.add_argument("--recommend-p95-ms", type=float, default=20.0)
    args = parser.parse_args()

    collection = ensure_collection(args.dataset, args.work)
    recommender = ensure_recommender(args.rec_data, args.work, args.rec_model)
    queries = test_queries(args.dataset, args.split)
    users = json.loads((recommender / "ids.json").read_text())["users"]
    random.Random(0).shuffle(users)
    reference = in_process_latency(collection, recommender, queries, users, args.k)

    search_bodies = [json.dumps({"query": q, "k": args.k, "mode": "hybrid"}).encode()
                     for q in queries]
    # one in ten users is unknown: cold-start answers are part of real traffic
    rec_bodies = [json.dumps({"user": u if i % 10 else f"new-{i}", "k": args.k}).encode()
                  for i, u in enumerate(users)]
    port = free_port()
    log = args.work / "load" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = start_server(collection, recommender, port, args.workers, log)
    phases: list[dict] = []
    batching: dict[str, float | None] = {}
    try:
        for endpoint, bodies in (("/search", search_bodies), ("/recommend", rec_bodies)):
            asyncio.run(closed_loop("127.0.0.1", port, Phase(endpoint, "warm-up", ""), bodies,
                                    2, 3.0))
            console.print(f"{endpoint}: open loop at {args.rate:g} req/s for {args.duration:g} s")
            phases.append(asyncio.run(open_loop(
                "127.0.0.1", port, Phase(endpoint, "open", f"{args.rate:g} req/s"), bodies,
                args.rate, args.duration)).summary())
            before = batch_counts(port)
            console.print(f"{endpoint}: closed loop, {args.clients} clients, {args.duration:g} s")
            phases.append(asyncio.run(closed_loop(
                "127.0.0.1", port, Phase(endpoint, "closed", f"{args.clients} clients"), bodies,
                args.clients, args.duration)).summary())
            if endpoint == "/search":
                after = batch_counts(port)
                batches = after[1] - before[1]
                batching = {"closed_loop_mean_batch": (after[0] - before[0]) / batches
                            if batches else None}
    finally:
        server.terminate()
        server.wait(30)

    targets = {("/search", "open"): args.search_p95_ms, ("/recommend", "open"): args.recommend_p95_ms}
    table = Table(title=f"neurank serve · {args.dataset.name} hybrid k={args.k} (split "
                        f"{args.split} queries) · {recommender.name} k={args.k} · "
                        f"{os.cpu_count()} cores, client on the same machine",
                  title_justify="left")
    for column in ("endpoint", "load", "requests", "errors", "req/s", "p50 ms", "p95 ms",
                   "p99 ms", "target"):
        table.add_column(column, justify="left" if column in ("endpoint", "load") else "right")
    for p in phases:
        target = targets.get((p["endpoint"], p["kind"]))
        if p["kind"] == "closed":
            verdict = "0 errors ✓" if p["errors"] == 0 else f"{p['errors']} errors ✗"
        else:
            verdict = f"p95 ≤ {target:g} {'✓' if p['p95_ms'] <= target else '✗'}"
        table.add_row(p["endpoint"], f"{p['kind']} {p['load']}", str(p["requests"]),
                      str(p["errors"]), f"{p['throughput_rps']:.1f}", f"{p['p50_ms']:.1f}",
                      f"{p['p95_ms']:.1f}", f"{p['p99_ms']:.1f}", verdict)
    console.print(table)
    search_http = next(p for p in phases if p["endpoint"] == "/search" and p["kind"] == "open")
    rec_http = next(p for p in phases if p["endpoint"] == "/recommend" and p["kind"] == "open")
    console.print(
        f"in-process (no HTTP) p50/p95: search {reference['search_p50_ms']:.1f}/"
        f"{reference['search_p95_ms']:.1f} ms, recommend {reference['recommend_p50_ms']:.1f}/"
        f"{reference['recommend_p95_ms']:.1f} ms; HTTP p50 / in-process p50 at {args.rate:g} "
        f"req/s: search {search_http['p50_ms'] / reference['search_p50_ms']:.2f}x, recommend "
        f"{rec_http['p50_ms'] / reference['recommend_p50_ms']:.2f}x")
    if batching.get("closed_loop_mean_batch"):
        console.print(f"search micro-batching: {batching['closed_loop_mean_batch']:.2f} queries "
                      f"per encoder batch on average in the closed loop")
    out = args.work / "load.json"
    out.write_text(json.dumps({"phases": phases, "in_process": reference, "batching": batching,
                               "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
