"""Run a collection over a BEIR split and score it: the IR evaluation protocol."""

from __future__ import annotations

from typing import Any

from neurank.data.beir import BeirDataset
from neurank.data.trec import Run
from neurank.eval.metrics import evaluate_run, parse_metric
from neurank.search.modes import Mode
from neurank.search.pipeline import SearchPipeline

DEFAULT_METRICS = ("ndcg@10", "ndcg@3", "recall@100", "mrr@10", "map@100", "precision@10",
                   "hit_rate@10", "f1@3", "f1@10")
PROTOCOL = ("trec_eval conventions: graded gains, ties by doc id desc, unjudged = non-relevant, "
            "mean over judged queries; hits whose id equals the query id are kept")


def run_queries(
    pipeline: SearchPipeline,
    queries: dict[str, str],
    *,
    k: int,
    mode: Mode,
    show_progress: bool = False,
) -> Run:
    """A TREC-style run: query id -> document id -> score, top-k per query."""
    qids = list(queries)
    rankings = pipeline.rank([queries[q] for q in qids], k=k, mode=mode,
                             show_progress=show_progress)
    ids = pipeline.collection.ids_of
    return {qid: dict(zip(ids(r.rows), r.score.tolist(), strict=True))
            for qid, r in zip(qids, rankings, strict=True)}


def evaluate_collection(
    pipeline: SearchPipeline,
    dataset: BeirDataset,
    *,
    mode: Mode,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    show_progress: bool = False,
) -> tuple[dict[str, Any], Run]:
    """(report, run): aggregate and per-query metrics, tagged with dataset, split, mode and k."""
    depth = max(parse_metric(m)[1] for m in metrics)
    run = run_queries(pipeline, dataset.queries, k=depth, mode=mode, show_progress=show_progress)
    aggregate, per_query = evaluate_run(run, dataset.qrels, metrics)
    report = {
        "dataset": dataset.name,
        "split": dataset.split,
        "mode": mode,
        "depth": depth,
        "num_queries": len(dataset.qrels),
        "protocol": PROTOCOL,
        "metrics": aggregate,
        "per_query": per_query,
        "notes": dataset.problems(),
    }
    if mode == "hybrid":
        report["fusion"] = pipeline.fusion.model_dump(mode="json")
    return report, run
