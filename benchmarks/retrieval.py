"""Retrieval benchmark: neurank bm25 / dense / hybrid against the raw libraries, in one run.

    python benchmarks/retrieval.py --dataset ../shared/data/scifact [--split test] [--reuse]

Prints NDCG@10, Recall@100, MRR@10, index time and single-query latency (p50/p95, query
encoding included) for neurank and for bm25s alone and sentence-transformers + exact search
alone, plus ratios. The neurank collection and the raw embeddings are cached under --work, so
`--reuse` re-measures quality and latency without re-encoding the corpus (index times are then
taken from the cached run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# idle BLAS threads spinning after a numpy matmul would slow the next torch call (peer latency)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import bm25s
import numpy as np
import Stemmer
from rich.console import Console
from rich.table import Table

from neurank.config import CollectionConfig
from neurank.data import read_beir
from neurank.encoders import SentenceEncoder
from neurank.eval.metrics import evaluate_run
from neurank.index import Collection
from neurank.search import SearchPipeline
from neurank.search.evaluation import run_queries
from neurank.search.tune import tune_fusion

METRICS = ("ndcg@10", "recall@100", "mrr@10")
DEPTH = 100
LATENCY_K = 10  # every row's single-query latency is measured at this k


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples_ms, 50)), float(np.percentile(samples_ms, 95))


def time_each(fn, queries: list[str], warmup: int = 5) -> list[float]:
    for query in queries[:warmup]:
        fn(query)
    samples = []
    for query in queries:
        start = time.perf_counter()
        fn(query)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="BEIR folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--tune-split", default="train",
                        help="split used to tune hybrid fusion ('' to skip)")
    parser.add_argument("--work", type=Path, default=None,
                        help="cache folder (default benchmarks/results/<dataset>)")
    parser.add_argument("--reuse", action="store_true", help="reuse the cached index/embeddings")
    parser.add_argument("--latency-queries", type=int, default=200)
    args = parser.parse_args()
    console = Console(width=150)
    work = args.work or Path(__file__).parent / "results" / args.dataset.name
    work.mkdir(parents=True, exist_ok=True)
    cache_meta = work / "index_times.json"

    data = read_beir(args.dataset, args.split, load_corpus=True, on_empty="keep")
    corpus = data.corpus or []
    contents = [d.content for d in corpus]
    doc_ids = np.asarray([d.id for d in corpus], dtype=object)
    qids = list(data.queries)
    query_texts = [data.queries[q] for q in qids]
    latency_queries = query_texts[: args.latency_queries]
    console.print(f"{data.name}: {len(corpus)} docs, {len(qids)} {args.split} queries")

    encoder = SentenceEncoder()
    times = json.loads(cache_meta.read_text()) if args.reuse and cache_meta.exists() else {}
    folder = work / "collection"
    if times and (folder / "manifest.json").exists():
        collection = Collection.load(folder, encoder=encoder)
    else:
        start = time.perf_counter()
        collection = Collection.build(folder, corpus, CollectionConfig(), encoder=encoder)
        times["neurank_index_s"] = time.perf_counter() - start
    raw_path = work / "raw_embeddings.npy"
    if "raw_encode_s" in times and raw_path.exists():
        raw_vectors = np.load(raw_path)
    else:
        start = time.perf_counter()
        raw_vectors = encoder.model.encode(contents, batch_size=64, convert_to_numpy=True,
                                           normalize_embeddings=True, show_progress_bar=True)
        times["raw_encode_s"] = time.perf_counter() - start
        np.save(raw_path, raw_vectors)
    cache_meta.write_text(json.dumps(times, indent=2))

    # raw bm25s, configured like neurank's default analyzer (k1=1.2, b=0.75, PyStemmer, en)
    stemmer = Stemmer.Stemmer("english")
    start = time.perf_counter()
    bm25_raw = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    bm25_raw.index(bm25s.tokenize(contents, stopwords="en", stemmer=stemmer, show_progress=False),
                   show_progress=False)
    bm25s_index_s = time.perf_counter() - start

    def bm25s_query(text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.ids[0]:
            return np.zeros(0, dtype=int), np.zeros(0)
        idx, scores = bm25_raw.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return idx[0], scores[0]

    def st_query(text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = encoder.model.encode([text], convert_to_numpy=True, normalize_embeddings=True)[0]
        scores = raw_vectors @ q
        top = np.argpartition(-scores, k)[:k]
        top = top[np.argsort(-scores[top])]
        return top, scores[top]

    def raw_run(query_fn) -> dict[str, dict[str, float]]:
        run = {}
        for qid, text in zip(qids, query_texts, strict=True):
            idx, scores = query_fn(text, DEPTH)
            run[qid] = dict(zip(doc_ids[idx].tolist(), np.asarray(scores, float).tolist(),
                                strict=True))
        return run

    def rrf(run_a, run_b, k: int = 60) -> dict[str, dict[str, float]]:
        fused = {}
        for qid in run_a:
            scores: dict[str, float] = {}
            for run in (run_a, run_b):
                ranked = sorted(run[qid].items(), key=lambda x: -x[1])
                for rank, (doc, _) in enumerate(ranked, start=1):
                    scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
            fused[qid] = scores
        return fused

    rows: list[dict] = []
    pipeline = SearchPipeline(collection)
    for mode in ("bm25", "dense", "hybrid"):
        run = run_queries(pipeline, data.queries, k=DEPTH, mode=mode)
        lat = time_each(lambda q, m=mode: pipeline.rank([q], k=LATENCY_K, mode=m),
                        latency_queries)
        rows.append({"system": f"neurank {mode}", "metrics": evaluate_run(run, data.qrels,
                                                                          METRICS)[0],
                     "index_s": times["neurank_index_s"], "latency_ms": percentiles(lat)})
    if args.tune_split:
        tuned = tune_fusion(pipeline, read_beir(args.dataset, args.tune_split,
                                                doc_ids=collection.doc_ids()),
                            show_progress=False)
        tuned_pipeline = SearchPipeline(collection, fusion=tuned.best)
        run = run_queries(tuned_pipeline, data.queries, k=DEPTH, mode="hybrid")
        lat = time_each(lambda q: tuned_pipeline.rank([q], k=LATENCY_K, mode="hybrid"),
                        latency_queries)
        b = tuned.best
        label = f"{b.method} {b.normalization if b.method == 'weighted' else b.rrf_k} w={b.dense_weight:.2f}"
        rows.append({"system": f"neurank hybrid tuned on {args.tune_split} ({label})",
                     "metrics": evaluate_run(run, data.qrels, METRICS)[0],
                     "index_s": times["neurank_index_s"], "latency_ms": percentiles(lat)})
    bm25s_run = raw_run(bm25s_query)
    st_run = raw_run(st_query)
    for name, run, index_s, fn in (
        ("bm25s alone", bm25s_run, bm25s_index_s, bm25s_query),
        ("sentence-transformers + exact", st_run, times["raw_encode_s"], st_query),
    ):
        # every row is timed the same way: one query, k=10 (quality runs use depth 100)
        latency = time_each(lambda q, f=fn: f(q, LATENCY_K), latency_queries)
        rows.append({"system": name, "metrics": evaluate_run(run, data.qrels, METRICS)[0],
                     "index_s": index_s, "latency_ms": percentiles(latency)})
    rows.append({"system": "raw RRF k=60 (bm25s + ST)",
                 "metrics": evaluate_run(rrf(bm25s_run, st_run), data.qrels, METRICS)[0],
                 "index_s": None, "latency_ms": None})

    table = Table(title=f"{data.name} · split {args.split} · {len(data.qrels)} judged queries · "
                        f"trec_eval conventions · latency = one query, k=10, "
                        f"{len(latency_queries)} queries", title_justify="left")
    for column in ("system", *METRICS, "index s", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "system" else "right", no_wrap=True)
    for row in rows:
        lat = row["latency_ms"]
        table.add_row(row["system"], *[f"{row['metrics'][m]:.4f}" for m in METRICS],
                      f"{row['index_s']:.1f}" if row["index_s"] is not None else "",
                      f"{lat[0]:.2f}" if lat else "", f"{lat[1]:.2f}" if lat else "")
    console.print(table)
    by_name = {r["system"]: r for r in rows}
    ratios = {
        "neurank index time / raw encode time": times["neurank_index_s"] / times["raw_encode_s"],
        "neurank bm25 p50 / bm25s p50": by_name["neurank bm25"]["latency_ms"][0]
        / by_name["bm25s alone"]["latency_ms"][0],
        "neurank dense p50 / ST+exact p50": by_name["neurank dense"]["latency_ms"][0]
        / by_name["sentence-transformers + exact"]["latency_ms"][0],
    }
    for name, value in ratios.items():
        console.print(f"{name}: {value:.2f}x")
    out = work / f"retrieval_{args.split}.json"
    out.write_text(json.dumps({"dataset": data.name, "split": args.split, "depth": DEPTH,
                               "rows": rows, "ratios": ratios,
                               "python": sys.version.split()[0]}, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
