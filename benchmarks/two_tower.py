"""Two-tower from scratch on SciFact: quality alone and fused with BM25, speed against MiniLM,
and a 20-trial sweep with its leaderboard, all through the command line.

    python benchmarks/two_tower.py --data-root ../shared/data [--work benchmarks/results/two-tower]

Steps (each skipped when its output exists, so an interrupted run resumes):
  1. `neurank two-tower train scifact --split train` with GloVe and with random word vectors.
  2. Each: `neurank index --encoder two-tower:DIR`, fusion tuned with `neurank tune --held-out-of
     DIR` (only the train queries the model held out: the others trained it), `neurank evaluate
     --split test --mode bm25,dense,hybrid`.
  3. Speed on this CPU: corpus docs/s over 1,000 SciFact abstracts and single-query encode time
     (p50/p95 over the test queries), two-tower vs MiniLM (ONNX int8 and torch), same run.
  4. `neurank sweep` of 20 trials (6 epochs each) within a 900 s budget, then `neurank runs`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from cli_steps import console, ndcg_by_mode, neurank, step
from rich.table import Table

SPEED_DOCS = 1000
SWEEP = """trainer: two-tower
source: {scifact}
split: train
out: {out}
trials: 20
budget_s: 900
settings: {{trainer: {{epochs: 6}}}}
space:
  pooling: [mean, weighted, gru]
  trainer.lr: {{low: 3.0e-4, high: 1.0e-2, log: true}}
  temperature: {{low: 0.02, high: 0.2, log: true}}
  output_dim: {{low: 64, high: 256, step: 64}}
"""


def quality(work: Path, name: str, scifact: Path, extra: list[str]) -> dict[str, float]:
    model, folder, report = work / name, work / f"collection-{name}", work / f"eval-{name}.json"
    step(model, "two-tower", "train", scifact, "--split", "train", "--out", model, *extra)
    if not report.exists():
        neurank("index", scifact, "--out", folder, "--encoder", f"two-tower:{model}", "--force")
        neurank("tune", folder, "--dataset", scifact, "--split", "train", "--held-out-of", model)
        neurank("evaluate", folder, "--dataset", scifact, "--split", "test", "--mode",
                "bm25,dense,hybrid", "--json", report)
    out = ndcg_by_mode(report)
    out["train_s"] = json.loads((model / "manifest.json").read_text())["seconds"]
    return out


def speed(work: Path, scifact: Path) -> dict[str, dict[str, float]]:
    from neurank.data.beir import read_beir
    from neurank.encoders.resolve import load_encoder

    test = read_beir(scifact, "test", load_corpus=True)
    assert test.corpus is not None
    docs = [d.content for d in test.corpus[:SPEED_DOCS]]
    queries = [test.queries[q] for q in sorted(test.qrels)]
    encoders = {"two-tower (GloVe)": load_encoder(str(work / "glove")),
                "MiniLM ONNX int8": load_encoder("sentence-transformers/all-MiniLM-L6-v2", "onnx"),
                "MiniLM torch": load_encoder("sentence-transformers/all-MiniLM-L6-v2", "torch")}
    out = {}
    for name, encoder in encoders.items():
        encoder.encode_queries(queries[:5])  # warm-up: sessions, caches
        start = time.perf_counter()
        encoder.encode(docs)
        docs_per_s = len(docs) / (time.perf_counter() - start)
        times = []
        for query in queries:
            start = time.perf_counter()
            encoder.encode_queries([query])
            times.append((time.perf_counter() - start) * 1000)
        out[name] = {"docs_per_s": docs_per_s, "query_p50_ms": float(np.percentile(times, 50)),
                     "query_p95_ms": float(np.percentile(times, 95))}
    return out


def sweep(work: Path, scifact: Path) -> dict[str, object]:
    out = work / "sweep"
    log = out / "trials.jsonl"
    if not log.exists():
        config = work / "sweep.yaml"
        config.write_text(SWEEP.format(scifact=scifact.resolve(), out=out.resolve()))
        start = time.monotonic()
        neurank("sweep", config)
        (work / "sweep-seconds.txt").write_text(f"{time.monotonic() - start:.1f}")
    board = neurank("runs", out, "--metric", "mrr@10", capture=True)
    console.print(board)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    return {"trials": len(entries),
            "states": {s: sum(e["state"] == s for e in entries) for s in ("complete", "pruned")},
            "seconds": float((work / "sweep-seconds.txt").read_text()),
            "best": max((e for e in entries if e["state"] == "complete"),
                        key=lambda e: e["best"]["mrr@10"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/two-tower"))
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    work, scifact = args.work, args.data_root / "scifact"
    work.mkdir(parents=True, exist_ok=True)
    rows = {"GloVe": quality(work, "glove", scifact, []),
            "random init": quality(work, "random", scifact, ["--embeddings", "random"])}
    table = Table(title="SciFact test NDCG@10: two-tower trained from scratch on SciFact train "
                        "(fusion tuned on the 81 train queries it held out)", title_justify="left")
    for column in ("word vectors", "bm25", "two-tower", "two-tower + bm25", "train s"):
        table.add_column(column, justify="left" if column == "word vectors" else "right")
    for name, r in rows.items():
        table.add_row(name, f"{r['bm25']:.4f}", f"{r['dense']:.4f}", f"{r['hybrid']:.4f}",
                      f"{r['train_s']:.0f}")
    console.print(table)
    speeds = speed(work, scifact)
    speed_table = Table(title=f"Encode speed on this CPU ({SPEED_DOCS} SciFact abstracts; test "
                              "queries one at a time)", title_justify="left")
    for column in ("encoder", "docs/s", "query p50 ms", "query p95 ms"):
        speed_table.add_column(column, justify="left" if column == "encoder" else "right")
    for name, s in speeds.items():
        speed_table.add_row(name, f"{s['docs_per_s']:.0f}", f"{s['query_p50_ms']:.2f}",
                            f"{s['query_p95_ms']:.2f}")
    console.print(speed_table)
    result = {"quality": rows, "speed": speeds}
    if not args.skip_sweep:
        result["sweep"] = sweep(work, scifact)
        console.print(f"sweep: {result['sweep']['trials']} trials {result['sweep']['states']} in "
                      f"{result['sweep']['seconds']:.0f} s")
    (work / "two_tower.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
