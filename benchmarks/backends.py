"""Vector backends on a real collection: FAISS exact vs Milvus (milvus-lite), same vectors.

    python benchmarks/backends.py --dataset ../shared/data/cranfield [--split test]

Encodes the corpus once (ONNX int8, the CPU default), builds one collection per backend from
the same vectors, and scores dense and hybrid retrieval of each with the same evaluation
function (trec_eval conventions), plus single-query dense latency. The two backends must
agree to NDCG@10 within 0.001.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from neurank.config import CollectionConfig, VectorIndexConfig
from neurank.data import read_beir
from neurank.encoders import load_encoder
from neurank.eval.metrics import evaluate_run
from neurank.index import Collection
from neurank.search import SearchPipeline
from neurank.search.evaluation import run_queries

METRICS = ("ndcg@10", "recall@100")


class CachedEncoder:
    """Encodes each text once, whatever collection asks for it."""

    def __init__(self, encoder) -> None:
        self.encoder, self.name, self.dim = encoder, encoder.name, encoder.dim
        self.backend = encoder.backend
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts, *, batch_size=None, show_progress=False):
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            vectors = self.encoder.encode(missing, show_progress=show_progress)
            self.cache.update(zip(missing, vectors, strict=True))
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim))

    def encode_queries(self, queries):
        return self.encode(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    data = read_beir(args.dataset, args.split, load_corpus=True, on_empty="skip")
    work = Path(__file__).parent / "results" / f"backends-{data.name}"
    shutil.rmtree(work, ignore_errors=True)
    encoder = CachedEncoder(load_encoder(backend="onnx"))
    rows = {}
    for backend in ("faiss", "milvus"):
        config = CollectionConfig(encoder="onnx", vectors=VectorIndexConfig(backend=backend))
        start = time.perf_counter()
        collection = Collection.build(work / backend, data.corpus or [], config, encoder=encoder,
                                      show_progress=backend == "faiss")
        build_s = time.perf_counter() - start
        pipeline = SearchPipeline(Collection.load(work / backend, encoder=encoder))
        collection.close()
        row = {"build_s": build_s}
        for mode in ("dense", "hybrid"):
            run = run_queries(pipeline, data.queries, k=100, mode=mode)
            row[mode] = evaluate_run(run, data.qrels, METRICS)[0]
        samples = []
        for query in list(data.queries.values())[:100]:
            t = time.perf_counter()
            pipeline.rank([query], k=10, mode="dense")
            samples.append((time.perf_counter() - t) * 1e3)
        row["dense_p50_ms"], row["dense_p95_ms"] = np.percentile(samples, [50, 95]).tolist()
        rows[backend] = row
    print(f"{data.name} · split {args.split} · {len(data.qrels)} judged queries · same vectors "
          "(ONNX int8 all-MiniLM-L6-v2) · trec_eval conventions")
    print(f"{'backend':<22}{'dense ndcg@10':>15}{'hybrid ndcg@10':>16}{'dense R@100':>13}"
          f"{'build s':>9}{'dense p50 ms':>14}{'p95 ms':>8}")
    for name, row in rows.items():
        label = "FAISS exact" if name == "faiss" else "Milvus (milvus-lite)"
        print(f"{label:<22}{row['dense']['ndcg@10']:>15.4f}{row['hybrid']['ndcg@10']:>16.4f}"
              f"{row['dense']['recall@100']:>13.4f}{row['build_s']:>9.1f}"
              f"{row['dense_p50_ms']:>14.2f}{row['dense_p95_ms']:>8.2f}")
    gap = max(abs(rows["faiss"][m]["ndcg@10"] - rows["milvus"][m]["ndcg@10"])
              for m in ("dense", "hybrid"))
    print(f"largest NDCG@10 difference: {gap:.4f} ({'within' if gap <= 0.001 else 'OVER'} 0.001)")


if __name__ == "__main__":
    main()
