"""Learned-ranking benchmark: hybrid vs LambdaMART vs the neural ranker, in one run.

    python benchmarks/ranking.py --scifact ../shared/data/scifact --cranfield ../shared/data/cranfield
        [--seeds 0,1,2] [--ablation] [--work DIR]

SciFact: rankers train on the train split (epoch, fusion weights and threshold chosen on a
seeded 10% carve of it) and are reported on test. Cranfield has only test judgements: K-fold
cross-validation over its queries, out-of-fold figures. Every row goes through the same
evaluation function (`evaluate_run`, trec_eval conventions); each carries a paired
randomization test against hybrid on NDCG@10 (p-value, 95% bootstrap interval). F1@3 is
reported without and with the threshold tuned for it. Latency: single-query search at k=10,
query encoding included, the learned ranker's added time per query = learned - hybrid.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

from neurank.config import CollectionConfig, RankerConfig, RankerFeatures
from neurank.data import read_beir
from neurank.eval.metrics import evaluate_run
from neurank.eval.significance import paired_test
from neurank.index import Collection
from neurank.search import SearchPipeline
from neurank.search.evaluation import evaluate_collection
from neurank.search.ranker import LearnedRanker, collection_ranker, store_ranker
from neurank.search.ranker_training import cross_validate, train_ranker, tune_threshold

METRICS = ("ndcg@10", "ndcg@3", "mrr@10", "f1@3", "recall@100")
SHOWN = ("ndcg@10", "ndcg@3", "mrr@10", "f1@3")
console = Console(width=160)


def collection_for(dataset: Path, work: Path) -> Collection:
    folder = work / dataset.name / "collection"
    if (folder / "manifest.json").exists():
        return Collection.load(folder)
    corpus = read_beir(dataset, "test", load_corpus=True).corpus
    return Collection.build(folder, corpus, CollectionConfig())


def evaluate(pipeline: SearchPipeline, data, mode: str) -> tuple[dict, dict]:
    report, _ = evaluate_collection(pipeline, data, mode=mode, metrics=METRICS)
    return report["metrics"], report["per_query"]


def with_threshold(pipeline: SearchPipeline, train_data, test_data) -> tuple[float | None, float]:
    """Tune the F1@3 threshold on the ranker's validation queries (as `neurank tune
    --threshold f1@3` does); test F1@3 with it on, then put the ranker back without it."""
    collection = pipeline.collection
    untouched = collection_ranker(collection)
    thresholded, _, _, _ = tune_threshold(pipeline, train_data)
    store_ranker(collection, thresholded)
    metrics, _ = evaluate(pipeline, test_data, "learned")
    store_ranker(collection, untouched)
    return thresholded.threshold, metrics["f1@3"]


def latency(pipeline: SearchPipeline, queries: list[str], mode: str) -> list[float]:
    """Per-query ms after one pass over the queries (the server's steady state: the ranker's
    feature cache holds the rows those queries retrieve)."""
    for query in queries:
        pipeline.rank([query], k=10, mode=mode)
    out = []
    for query in queries:
        start = time.perf_counter()
        pipeline.rank([query], k=10, mode=mode)
        out.append((time.perf_counter() - start) * 1000)
    return out


def row(name: str, metrics: dict, per_query: dict, base: dict | None, extra: dict) -> dict:
    test = paired_test(base, per_query, "ndcg@10").to_dict() if base is not None else None
    return {"system": name, "metrics": metrics, "vs_hybrid": test, **extra}


def print_table(title: str, rows: list[dict], columns: tuple[str, ...] = SHOWN) -> None:
    table = Table(title=title)
    for name in ("system", *columns, "Δ ndcg@10 vs hybrid [95% CI], p", "train s", "notes"):
        table.add_column(name)
    for r in rows:
        test = r["vs_hybrid"]
        sig = ("—" if test is None else
               f"{test['difference']:+.4f} [{test['ci95'][0]:+.3f}, {test['ci95'][1]:+.3f}], "
               f"p={test['p_value']:.3f}")
        table.add_row(r["system"], *(f"{r['metrics'][c]:.4f}" for c in columns), sig,
                      f"{r['train_s']:.0f}" if r.get("train_s") else "—", r.get("notes", ""))
    console.print(table)


def train_and_attach(pipeline: SearchPipeline, data,
                     config: RankerConfig) -> tuple[float, LearnedRanker]:
    start = time.perf_counter()
    trained = train_ranker(pipeline, data, config, show_progress=False)
    seconds = time.perf_counter() - start
    store_ranker(pipeline.collection, trained.ranker)
    return seconds, trained.ranker


def scifact_setup(args: argparse.Namespace):
    """(collection, pipeline, train split, test split, hybrid metrics, hybrid per-query)."""
    collection = collection_for(args.scifact, args.work)
    pipeline = SearchPipeline(collection)
    train = read_beir(args.scifact, "train", load_corpus=False)
    test = read_beir(args.scifact, "test", load_corpus=False)
    hybrid, hybrid_q = evaluate(pipeline, test, "hybrid")
    return collection, pipeline, train, test, hybrid, hybrid_q


def scifact(args: argparse.Namespace, results: dict) -> None:
    collection, pipeline, train, test, hybrid, hybrid_q = scifact_setup(args)
    rows = [row("hybrid (bm25 + dense, min-max 0.5)", hybrid, hybrid_q, None, {})]

    systems = [("LambdaMART (same features)", RankerConfig(kind="lambdamart"))]
    systems += [(f"neural ranker alone, seed {s}", RankerConfig(learned_fusion=False, seed=s))
                for s in args.seeds[:1]]
    systems += [(f"neural + learned fusion, seed {s}", RankerConfig(seed=s)) for s in args.seeds]
    transfer_ranker = None
    for name, config in systems:
        seconds, ranker = train_and_attach(pipeline, train, config)
        if transfer_ranker is None and name.startswith("neural + learned"):
            transfer_ranker = ranker
        metrics, per_query = evaluate(pipeline, test, "learned")
        threshold, f1 = with_threshold(pipeline, train, test)
        shown = "none" if threshold is None else f"{threshold:.3f}"
        notes = f"fusion {ranker.fusion}; threshold {shown} -> F1@3 {f1:.4f}"
        rows.append(row(name, metrics, per_query, hybrid_q,
                        {"train_s": seconds, "notes": notes, "f1@3_thresholded": f1}))
        console.print(f"{name}: ndcg@10 {metrics['ndcg@10']:.4f} ({seconds:.0f} s)")
    fused = [r["metrics"]["ndcg@10"] for r in rows if r["system"].startswith("neural + learned")]
    results["scifact"] = {"rows": rows, "neural_fusion_ndcg10_seeds": fused}
    print_table("SciFact test (train on train, select on a 10% carve of train), trec_eval "
                "conventions, k as named", rows)
    if len(fused) > 1:
        console.print(f"neural + learned fusion over seeds {args.seeds}: NDCG@10 mean "
                      f"{statistics.mean(fused):.4f}, std {statistics.stdev(fused):.4f}")

    # the collection now holds the last seed's ranker: the latency rows use it
    queries = [test.queries[q] for q in list(test.queries)[: args.latency_queries]]
    samples = {mode: latency(pipeline, queries, mode) for mode in ("hybrid", "learned")}
    added = [a - b for a, b in zip(samples["learned"], samples["hybrid"], strict=True)]
    weights = collection.ranker_folder / "weights.safetensors"
    results["scifact_latency_ms"] = {
        mode: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}
        for mode, v in {**samples, "added": added}.items()}
    results["scifact_ranker_bytes"] = weights.stat().st_size
    console.print(f"latency ms (k=10, {len(queries)} queries): {results['scifact_latency_ms']}; "
                  f"ranker weights {weights.stat().st_size / 1e6:.2f} MB fp32")

    if args.ablation:
        ablation(args, pipeline, train, test, hybrid_q, results)
    if args.cranfield:
        # the first seed's fusion ranker, whichever rankers the ablation trained since
        store_ranker(collection, transfer_ranker)
        transfer(args, collection, results)


def runtimes(args: argparse.Namespace, results: dict) -> None:
    """One neural ranker on torch / torch int8 / ONNX / ONNX int8: size, latency, quality."""
    collection, pipeline, train, test, _, hybrid_q = scifact_setup(args)
    config = RankerConfig(seed=args.seeds[0])
    trained = train_ranker(pipeline, train, config, show_progress=False)
    queries = [test.queries[q] for q in list(test.queries)[: args.latency_queries]]
    base = latency(pipeline, queries, "hybrid")
    rows = []
    for runtime in ("torch", "torch-int8", "onnx", "onnx-int8"):
        ranker = trained.ranker
        ranker.config = ranker.config.model_copy(update={"runtime": runtime})
        store_ranker(collection, ranker)
        metrics, per_query = evaluate(pipeline, test, "learned")
        size = collection_ranker(collection).runtime()[1]
        added = [a - b for a, b in zip(latency(pipeline, queries, "learned"), base, strict=True)]
        rows.append(row(runtime, metrics, per_query, hybrid_q, {
            "bytes": size, "added_ms_p50": float(np.percentile(added, 50)),
            "added_ms_p95": float(np.percentile(added, 95)),
            "notes": f"{size / 1e6:.2f} MB; added latency p50 {np.percentile(added, 50):.2f} "
                     f"ms, p95 {np.percentile(added, 95):.2f} ms"}))
    results["runtimes"] = rows
    print_table("Neural ranker runtimes (SciFact test; size = what the runtime runs; added "
                f"latency = learned - hybrid per query, k=10, {len(queries)} queries)", rows)


def ablation(args, pipeline, train, test, hybrid_q, results) -> None:
    all_groups = RankerFeatures().groups

    def without(group: str) -> dict:
        return {"features": RankerFeatures(groups=[g for g in all_groups if g != group])}

    variants = [
        ("full model (neural + fusion)", {}),
        ("- attention", {"attention": False}),
        ("- embeddings (features only)", {"embeddings": False}),
        ("- features (scores only)", {"features": RankerFeatures(groups=["scores"])}),
        ("- metadata features", without("metadata")),
        ("- feedback features (Rocchio, RM3)", without("feedback")),
        ("- hard negatives (random only)", {"hard_negatives": 0}),
        ("- hybrid (ranker alone)", {"learned_fusion": False}),
    ]
    rows = []
    for name, update in variants:
        config = RankerConfig(seed=args.seeds[0], **update)
        seconds, _ = train_and_attach(pipeline, train, config)
        metrics, per_query = evaluate(pipeline, test, "learned")
        _, f1 = with_threshold(pipeline, train, test)
        rows.append(row(name, metrics, per_query, hybrid_q,
                        {"train_s": seconds, "notes": f"F1@3 with threshold {f1:.4f}",
                         "f1@3_thresholded": f1}))
        console.print(f"ablation {name}: ndcg@10 {metrics['ndcg@10']:.4f}")
    results["ablation"] = rows
    print_table(f"Ablation, SciFact test, seed {args.seeds[0]} (F1@3 column: no threshold; "
                "'- threshold' = F1@3 column vs notes)", rows)


def transfer(args, scifact_collection: Collection, results: dict) -> None:
    """The SciFact-trained ranker applied to Cranfield, against Cranfield's hybrid."""
    collection = collection_for(args.cranfield, args.work)
    pipeline = SearchPipeline(collection)
    test = read_beir(args.cranfield, "test", load_corpus=False)
    hybrid, hybrid_q = evaluate(pipeline, test, "hybrid")
    rows = [row("hybrid", hybrid, hybrid_q, None, {})]
    collection.set_ranker(scifact_collection.ranker_folder)
    metrics, per_query = evaluate(pipeline, test, "learned")
    rows.append(row("SciFact-trained neural ranker", metrics, per_query, hybrid_q, {}))

    folds = args.cv
    for name, config in (("LambdaMART", RankerConfig(kind="lambdamart")),
                         ("neural + learned fusion", RankerConfig(seed=args.seeds[0]))):
        start = time.perf_counter()
        run, _ = cross_validate(pipeline, test, config, folds, show_progress=False)
        seconds = time.perf_counter() - start
        metrics, per_query = evaluate_run(run, test.qrels, METRICS)
        rows.append(row(f"{name}, {folds}-fold CV", metrics, per_query, hybrid_q,
                        {"train_s": seconds, "notes": "out-of-fold"}))
        console.print(f"cranfield {name}: ndcg@10 {metrics['ndcg@10']:.4f}")
    results["cranfield"] = rows
    print_table(f"Cranfield test (graded), rankers by {folds}-fold CV over queries "
                "(out-of-fold), transfer row trained on SciFact train", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, required=True)
    parser.add_argument("--cranfield", type=Path, default=None)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--runtimes-only", action="store_true",
                        help="only the runtime table (trains one neural ranker)")
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "results" / "ranking")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict = {"protocol": __doc__}
    if args.runtimes_only:
        runtimes(args, results)
    else:
        scifact(args, results)
    out = args.work / ("ranking-runtimes.json" if args.runtimes_only else "ranking.json")
    out.write_text(json.dumps(results, indent=2, default=float))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
