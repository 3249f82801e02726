"""benchmarks/load.py's open and closed loops, bounded, against a real server."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from urllib.parse import urlparse


def _load_module(repo_root):
    spec = importlib.util.spec_from_file_location("bench_load", repo_root / "benchmarks" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_open_and_closed_loops_measure_a_live_server(live_server, repo_root):
    load = _load_module(repo_root)
    url = urlparse(live_server)
    bodies = [json.dumps({"query": q, "k": 3, "mode": "bm25"}).encode()
              for q in ("weather", "census data", "river flow")]
    started = time.perf_counter()
    phase = asyncio.run(load.open_loop(url.hostname, url.port, load.Phase("/search", "open", ""),
                                       bodies, rate=20, duration=1.0))
    summary = phase.summary()
    assert summary["requests"] == 20 and summary["errors"] == 0
    assert 0.9 <= time.perf_counter() - started < 10  # paced by the schedule, not as fast as possible
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]

    phase = asyncio.run(load.closed_loop(url.hostname, url.port,
                                         load.Phase("/search", "closed", ""), bodies, clients=4,
                                         duration=1.0))
    assert phase.errors == 0 and len(phase.latencies_ms) > 4

    bad = [json.dumps({"query": "x", "k": 0}).encode()]
    phase = asyncio.run(load.open_loop(url.hostname, url.port, load.Phase("/search", "open", ""),
                                       bad, rate=10, duration=0.5))
    assert phase.errors == 5 and phase.statuses == {422: 5}
