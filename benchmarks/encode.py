"""Index-encoding benchmark: raw sentence-transformers vs neurank torch vs neurank ONNX int8.

    python benchmarks/encode.py --dataset ../shared/data/scifact [--split test] [--limit N]

Encodes the whole corpus three ways in one run (2 threads each, nothing else running), then
scores dense retrieval of each set of vectors with the same function (pytrec_eval-checked
`evaluate_run`, exact inner-product search, depth 100) and measures single-query hybrid
latency (query encoding included) of the ONNX collection. Prints docs/s, the ratio to raw
sentence-transformers, NDCG@10 and its change, and writes JSON under --work.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from neurank.config import CollectionConfig
from neurank.data import read_beir
from neurank.encoders import OnnxEncoder, SentenceEncoder, resolve_model
from neurank.encoders.onnx import export_onnx
from neurank.eval.metrics import evaluate_run
from neurank.index import Collection
from neurank.search import SearchPipeline
from neurank.topk import top_indices

METRICS = ("ndcg@10", "recall@100")
DEPTH = 100


def exact_run(vectors: np.ndarray, query_vectors: np.ndarray, doc_ids: np.ndarray,
              qids: list[str]) -> dict[str, dict[str, float]]:
    scores = query_vectors @ vectors.T
    run = {}
    for i, qid in enumerate(qids):
        top = top_indices(scores[i], DEPTH)  # fewer when --limit leaves fewer documents
        run[qid] = dict(zip(doc_ids[top].tolist(), scores[i, top].astype(float).tolist(),
                            strict=True))
    return run


class TimedEncoder:
    """Wraps an encoder and adds up the seconds spent in `encode`, so a build's own work (BM25,
    SQLite, FAISS, files) is its time minus the encoder's."""

    def __init__(self, encoder) -> None:
        self.inner, self.seconds = encoder, 0.0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def encode(self, texts: list[str], **kwargs) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self.inner.encode(texts, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--latency-queries", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(2)
    console = Console(width=150)
    work = args.work or Path(__file__).parent / "results" / f"encode-{args.dataset.name}"
    work.mkdir(parents=True, exist_ok=True)
    data = read_beir(args.dataset, args.split, load_corpus=True, on_empty="keep")
    corpus = (data.corpus or [])[: args.limit]
    contents = [d.content for d in corpus]
    doc_ids = np.asarray([d.id for d in corpus], dtype=object)
    qids = list(data.queries)
    console.print(f"{data.name}: {len(corpus)} docs, {len(qids)} {args.split} queries; "
                  f"torch threads {torch.get_num_threads()}")

    torch_encoder = SentenceEncoder(device="cpu")
    query_vectors = torch_encoder.encode([data.queries[q] for q in qids])
    rows = []

    start = time.perf_counter()
    raw = torch_encoder.model.encode(contents, convert_to_numpy=True, normalize_embeddings=True,
                                     show_progress_bar=True)
    raw_s = time.perf_counter() - start
    rows.append({"system": "sentence-transformers encode (raw)", "seconds": raw_s,
                 "metrics": evaluate_run(exact_run(raw, query_vectors, doc_ids, qids),
                                         data.qrels, METRICS)[0]})

    start = time.perf_counter()
    export = export_onnx(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))
    export_s = time.perf_counter() - start
    onnx_encoder = OnnxEncoder(export, name="sentence-transformers/all-MiniLM-L6-v2")
    collections = {}
    for name, encoder in (("torch", torch_encoder), ("onnx", onnx_encoder)):
        shutil.rmtree(work / name, ignore_errors=True)
        timed = TimedEncoder(encoder)
        start = time.perf_counter()
        collection = Collection.build(work / name, corpus, CollectionConfig(encoder=name),
                                      encoder=timed)
        seconds = time.perf_counter() - start
        collections[name] = collection
        vectors = collection.vectors.vectors_for(np.asarray(
            [collection.row_of(i) for i in doc_ids]))
        queries = encoder.encode_queries([data.queries[q] for q in qids])
        rows.append({"system": f"neurank index --encoder {name} (whole index)",
                     "seconds": seconds, "encoder_seconds": timed.seconds,
                     "metrics": evaluate_run(exact_run(vectors, queries, doc_ids, qids),
                                             data.qrels, METRICS)[0]})

    pipeline = SearchPipeline(collections["onnx"])
    latency_queries = [data.queries[q] for q in qids][: args.latency_queries]
    for query in latency_queries[:5]:
        pipeline.rank([query], k=10, mode="hybrid")
    samples = []
    for query in latency_queries:
        start = time.perf_counter()
        pipeline.rank([query], k=10, mode="hybrid")
        samples.append((time.perf_counter() - start) * 1e3)
    hybrid = percentiles(samples)

    base = rows[0]
    table = Table(title=f"{data.name} · {len(corpus)} documents · dense retrieval on split "
                        f"{args.split} ({len(data.qrels)} judged queries), exact search, "
                        "trec_eval conventions", title_justify="left")
    for column in ("system", "seconds", "of which encoder", "docs/s", "x raw", *METRICS,
                   "Δ ndcg@10"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for row in rows:
        row["docs_per_s"] = len(corpus) / row["seconds"]
        row["speedup"] = base["seconds"] / row["seconds"]
        row["delta_ndcg@10"] = row["metrics"]["ndcg@10"] - base["metrics"]["ndcg@10"]
        encoder_s = row.get("encoder_seconds", row["seconds"])
        table.add_row(row["system"], f"{row['seconds']:.1f}", f"{encoder_s:.1f}",
                      f"{row['docs_per_s']:.1f}",
                      f"{row['speedup']:.2f}", *[f"{row['metrics'][m]:.4f}" for m in METRICS],
                      f"{row['delta_ndcg@10']:+.4f}")
    console.print(table)
    console.print(f"ONNX export (one-off, cached): {export_s:.1f} s · hybrid single-query "
                  f"latency on the ONNX collection, k=10, {len(samples)} queries: "
                  f"p50 {hybrid[0]:.2f} ms, p95 {hybrid[1]:.2f} ms")
    out = work / f"encode_{args.split}.json"
    out.write_text(json.dumps({"dataset": data.name, "documents": len(corpus), "rows": rows,
                               "export_s": export_s, "hybrid_latency_ms": hybrid}, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
