"""index, search, evaluate and tune: the search flow on an embedded collection."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from neurank.artifacts import atomic_write_json, atomic_write_text
from neurank.cli.app import app, console, console_err
from neurank.errors import NeurankError

OutputJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def index(
    source: Annotated[Path, typer.Argument(help="BEIR folder, .jsonl or .csv corpus.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Collection folder to write.")],
    model: Annotated[str | None, typer.Option(help="sentence-transformers id or path.")] = None,
    encoder: Annotated[str, typer.Option(
        help="Model runtime: onnx (int8, fast on CPU), torch, or auto (torch on a GPU); or "
             "two-tower:DIR for a model from `neurank two-tower train`.")] = "auto",
    dim: Annotated[int | None, typer.Option(
        min=1, help="Keep the model's first DIM dimensions, renormalised (Matryoshka models: "
                    "smaller index, faster search).")] = None,
    hnsw: Annotated[bool, typer.Option("--hnsw", help="HNSW vector index instead of exact.")] = False,
    backend: Annotated[str, typer.Option(
        help="Vector backend: faiss (in process) or milvus (needs neurank[milvus]).")] = "faiss",
    milvus_uri: Annotated[str | None, typer.Option(
        help="Milvus server URI (token from $NEURANK_MILVUS_TOKEN); default: an embedded "
             "milvus-lite file in the collection folder.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Id column/key (default _id or id).")] = None,
    title_field: Annotated[str, typer.Option(help="Title column/key.")] = "title",
    text_field: Annotated[str, typer.Option(help="Text column/key.")] = "text",
    on_empty: Annotated[str, typer.Option(help="Documents with no text: error, keep or skip.")] = "error",
    stemmer: Annotated[str, typer.Option(help="Snowball stemmer language, or 'none'.")] = "english",
    stopwords: Annotated[str, typer.Option(help="Stopword list, or 'none'.")] = "english",
    batch_size: Annotated[int | None, typer.Option(
        help="Encoding batch size (default: the runtime's own, 8 on ONNX, 64 on torch).")] = None,
    classify: Annotated[Path | None, typer.Option(
        help="Classifier checkpoint: store each document's predicted labels as metadata.")] = None,
    classify_field: Annotated[str, typer.Option(
        help="Metadata field for the predicted labels (filter on it with --filter).")] = "labels",
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a collection that is already in --out.")] = False,
) -> None:
    """Index a corpus into a collection folder (documents + BM25 + vectors + manifest)."""
    from neurank.config import AnalyzerConfig, CollectionConfig, VectorIndexConfig
    from neurank.data.corpus import read_corpus
    from neurank.index.collection import Collection
    from neurank.index.vectors import BACKENDS

    if backend not in BACKENDS:
        raise NeurankError(f"--backend must be one of {BACKENDS}, got {backend!r}")
    if milvus_uri and backend != "milvus":
        raise NeurankError("--milvus-uri goes with --backend milvus")
    if on_empty not in ("error", "keep", "skip"):
        raise NeurankError(f"--on-empty must be error, keep or skip, got {on_empty!r}")
    if out.exists() and not out.is_dir():
        raise NeurankError(f"--out {out} exists and is not a folder")
    if (out / "manifest.json").exists() and not force:
        raise NeurankError(f"{out} already holds a collection; pass --force to replace it "
                           "(or `neurank optimize`/PUT /documents to update it)")
    documents = read_corpus(source, id_field=id_field, title_field=title_field,
                            text_field=text_field, on_empty=on_empty)  # type: ignore[arg-type]
    model, encoder = _model_and_runtime(model, encoder)
    config = CollectionConfig(
        encoder=encoder, dim=dim,
        analyzer=AnalyzerConfig(stemmer=None if stemmer == "none" else stemmer,
                                stopwords=None if stopwords == "none" else stopwords),
        vectors=VectorIndexConfig(backend=backend, kind="hnsw" if hnsw else "flat",
                                  milvus_uri=milvus_uri),
    )
    if model:
        config.model = model
    if classify is not None:
        from neurank.classify.predictor import Classifier, tag_documents

        console_err.print(f"labelling {len(documents)} documents with {classify}")
        documents = tag_documents(Classifier(classify), documents, classify_field,
                                  show_progress=True)
    console_err.print(f"indexing {len(documents)} documents from {source} with {config.model}")
    reuse = _reusable_vectors(out, config) if force else None
    if reuse:
        unchanged = sum(d.content in reuse for d in documents)
        console_err.print(f"reusing the embeddings of {unchanged} unchanged documents of the "
                          f"collection being replaced")
    collection = Collection.build(out, documents, config, batch_size=batch_size, reuse=reuse)
    console.print(f"[green]indexed[/] {len(collection)} documents into {out} with "
                  f"{collection.config.encoder} (generation {collection.generation})")


def _model_and_runtime(model: str | None, encoder: str) -> tuple[str | None, str]:
    """(--model, --encoder) with `--encoder two-tower:DIR` turned into that model on torch."""
    from neurank.encoders.resolve import BACKENDS as ENCODERS
    from neurank.encoders.two_tower import TWO_TOWER_PREFIX, is_two_tower

    if encoder.startswith(TWO_TOWER_PREFIX):
        if model:
            raise NeurankError("give --model or --encoder two-tower:DIR, not both")
        model = str(Path(encoder.removeprefix(TWO_TOWER_PREFIX)).expanduser().resolve())
        if not is_two_tower(model):
            raise NeurankError(f"{model} is not a two-tower checkpoint (train one with "
                               "`neurank two-tower train`)")
        return model, "torch"
    if encoder not in ENCODERS:
        raise NeurankError(f"--encoder must be one of {ENCODERS}, got {encoder!r}")
    return model, encoder


def _reusable_vectors(folder: Path, config) -> dict | None:
    """Vectors of the collection in `folder` by content, when it was built with the same model
    on the runtime this build will use (None otherwise: different vectors)."""
    from neurank.encoders.resolve import choose_backend
    from neurank.errors import CollectionError
    from neurank.index.collection import Collection

    try:
        old = Collection.load(folder)
    except CollectionError:
        return None
    try:
        if (old.config.model, old.config.encoder, old.config.dim) != (
                config.model, choose_backend(config.encoder), config.dim):
            return None
        return old.vectors_by_content()
    finally:
        old.close()


@app.command()
def optimize(
    collection: Annotated[Path, typer.Argument(help="Collection folder.")],
) -> None:
    """Merge a collection's segments into one and drop deleted documents for good."""
    from neurank.index.collection import Collection

    loaded = Collection.load(collection)
    before = len(loaded.segments)
    loaded.optimize()
    console.print(f"[green]optimized[/] {collection}: {before} segment(s) -> "
                  f"{len(loaded.segments)}, {len(loaded)} documents (generation "
                  f"{loaded.generation})")


@app.command()
def reindex(
    collection: Annotated[Path, typer.Argument(help="Collection folder.")],
    model: Annotated[str | None, typer.Option(
        help="The new model: id, folder, or a fine-tuned checkpoint.")] = None,
    encoder: Annotated[str, typer.Option(
        help="Runtime (auto, onnx, torch) or two-tower:DIR.")] = "auto",
    dim: Annotated[int | None, typer.Option(
        min=1, help="Keep the model's first DIM dimensions, renormalised.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Encoding batch size.")] = None,
) -> None:
    """Re-encode a collection with another model, atomically: searches keep the old vectors
    until the new generation commits. Fusion tuning and a learned ranker are dropped."""
    from neurank.index.collection import Collection

    model, encoder = _model_and_runtime(model, encoder)
    if model is None:
        raise NeurankError("give the new model: --model MODEL or --encoder two-tower:DIR")
    loaded = Collection.load(collection)
    dropped = [name for name, present in (
        ("fusion tuning", loaded.config.tuned_on is not None),
        ("score threshold", loaded.config.min_score is not None),
        ("learned ranker", loaded.ranker_folder is not None)) if present]
    console_err.print(f"re-encoding {len(loaded)} documents of {collection} with {model}")
    rebuilt = loaded.reindex(model, encoder=encoder, dim=dim, batch_size=batch_size)
    console.print(f"[green]reindexed[/] {collection} with {rebuilt.config.model} on "
                  f"{rebuilt.config.encoder} ({rebuilt.vectors.dim}-d, generation "
                  f"{rebuilt.generation})")
    if dropped:
        console.print(f"dropped, made for the old vectors: {', '.join(dropped)}; run `neurank "
                      "tune` / `neurank ranker train` again")


def _pipeline(folder: Path):
    from neurank.index.collection import Collection
    from neurank.search.pipeline import SearchPipeline

    return SearchPipeline(Collection.load(folder))


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def search(
    collection: Annotated[Path, typer.Argument(help="Collection folder.")],
    query: Annotated[str | None, typer.Argument(
        help="Query text; leave it out for the interactive terminal search.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of hits.")] = 10,
    mode: Annotated[str, typer.Option(
        help="bm25, dense, hybrid or learned (needs `neurank ranker train`).")] = "hybrid",
    filter_: Annotated[list[str] | None, typer.Option(
        "--filter", help="Metadata filter FIELD=VALUE (repeatable).")] = None,
    as_json: OutputJson = False,
) -> None:
    """Search a collection; every hit shows its per-signal scores.

    Without a query, opens an interactive search: type, Enter, F2 switches the mode.
    """
    from neurank.index.filters import parse_filter_arguments

    if query is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise NeurankError("give a query, or run `neurank search DIR` in a terminal for "
                               "the interactive search")
        from neurank.cli.tui import SearchApp

        SearchApp(_pipeline(collection), k=k, mode=mode).run()
        return
    hits = _pipeline(collection).search(query, k=k, mode=mode,  # type: ignore[arg-type]
                                        filters=parse_filter_arguments(filter_))
    if as_json:
        print(json.dumps({"query": query, "mode": mode, "k": k,
                          "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
        return
    table = Table(title=f"{mode} · {query}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("title / text")
    signals = list(hits[0].scores) if hits else []
    for signal in signals:
        table.add_column(signal, justify="right")
    for hit in hits:
        cells = [f"{hit.scores[s]:.3f}" for s in signals]
        table.add_row(str(hit.rank), hit.id, _short(hit.title or hit.text, 70), *cells)
    console.print(table)
    if not hits:
        console.print("no hits")


@app.command()
def evaluate(
    collection: Annotated[Path, typer.Argument(help="Collection folder.")],
    dataset: Annotated[Path, typer.Option(help="BEIR folder with queries.jsonl and qrels/.")],
    split: Annotated[str, typer.Option(help="Qrels split.")] = "test",
    mode: Annotated[str, typer.Option(
        help="bm25, dense, hybrid, learned, or a comma list (differences from the first are "
             "tested for significance).")] = "hybrid",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a markdown report.")] = None,
    run_out: Annotated[Path | None, typer.Option("--run", help="Write the TREC run.")] = None,
) -> None:
    """Evaluate a collection on a BEIR split (NDCG@10, Recall@100, MRR@10, MAP@100, ...)."""
    from neurank.data.beir import read_beir
    from neurank.data.trec import write_run
    from neurank.eval.report import markdown_table
    from neurank.search.evaluation import evaluate_collection
    from neurank.search.modes import parse_modes

    modes = parse_modes(mode)
    pipeline = _pipeline(collection)
    data = read_beir(dataset, split, doc_ids=pipeline.collection.doc_ids())
    for note in data.problems():
        console_err.print(f"[yellow]warning:[/] {note}")
    tuned = pipeline.collection.config.tuned_on
    if tuned is not None and (tuned.dataset, tuned.split) == (data.name, data.split):
        if tuned.query_ids:
            kept = set(data.qrels) - set(tuned.query_ids)
            data = data.subset(kept)
            console_err.print(f"fusion was tuned on {len(tuned.query_ids)} queries of this "
                              f"split: scoring the other {len(kept)}")
        else:
            console_err.print(f"[yellow]warning:[/] fusion was tuned on {tuned.dataset}/"
                              f"{tuned.split} ({tuned.queries} queries): hybrid figures on the "
                              "same split are optimistic; report a split the settings never saw"
                              + (f" (or the {tuned.cv_folds}-fold cross-validated "
                                 f"{tuned.metric} {tuned.cv_score:.4f} `tune --cv` measured)"
                                 if tuned.cv_score is not None else ""))
    reports = []
    for m in modes:
        result, run = evaluate_collection(pipeline, data, mode=m,  # type: ignore[arg-type]
                                          show_progress=True)
        reports.append(result)
        if run_out:
            target = run_out if len(modes) == 1 else run_out.with_suffix(f".{m}{run_out.suffix}")
            write_run(target, run, tag=f"neurank-{m}")
            console_err.print(f"wrote the {m} run to {target}")
    table = Table(title=f"{data.name} · split {data.split} · {len(data.qrels)} judged queries",
                  title_justify="left")
    table.add_column("mode")
    columns = list(reports[0]["metrics"])
    for c in columns:
        table.add_column(c, justify="right")
    for r in reports:
        table.add_row(r["mode"], *[f"{r['metrics'][c]:.4f}" for c in columns])
    console.print(table)
    if len(reports) > 1:
        _print_significance(reports, data)
    if json_out:
        atomic_write_json(json_out, reports[0] if len(reports) == 1 else reports)
    if report:
        atomic_write_text(report, markdown_table(reports))


def _significance_table(title: str, name_a: str, per_query_a: dict, comparisons: list,
                        metrics: list[str]) -> Table:
    """One row per (system, metric): B - A with its paired randomization p and 95% interval."""
    from neurank.eval.significance import paired_test

    table = Table(title=title, title_justify="left")
    for column in ("system", "metric", f"{name_a}", "system's", "difference", "95% interval",
                   "p", "significant"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for name_b, per_query_b in comparisons:
        for metric in metrics:
            test = paired_test(per_query_a, per_query_b, metric)
            table.add_row(name_b, metric, f"{test.mean_a:.4f}", f"{test.mean_b:.4f}",
                          f"{test.difference:+.4f}", f"[{test.low:+.4f}, {test.high:+.4f}]",
                          f"{test.p_value:.4f}", "yes" if test.significant else "no")
    return table


def _print_significance(reports: list[dict], data) -> None:
    base = reports[0]
    console.print(_significance_table(
        f"paired randomization test against {base['mode']} ({len(data.qrels)} queries, "
        "10,000 sign flips; p < 0.05 = significant)", base["mode"], base["per_query"],
        [(r["mode"], r["per_query"]) for r in reports[1:]], ["ndcg@10", "mrr@10"]))
    if len(data.qrels) < 100:
        console.print(f"[yellow]note:[/] {len(data.qrels)} queries: differences of 0.01-0.02 "
                      "are usually noise here; read the interval")


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="TREC run file of system A (the baseline).")],
    run_b: Annotated[Path, typer.Argument(help="TREC run file of system B.")],
    qrels: Annotated[Path, typer.Option(help="TREC or BEIR (.tsv) qrels file.")],
    metric: Annotated[list[str] | None, typer.Option(
        help="Metric to test (repeatable).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the tests as JSON.")] = None,
) -> None:
    """Is B better than A? Paired randomization test and bootstrap interval per metric."""
    from neurank.data.trec import read_qrels, read_run
    from neurank.eval.metrics import evaluate_run
    from neurank.eval.significance import paired_test

    metrics = metric or ["ndcg@10", "mrr@10", "recall@100"]
    judged = read_qrels(qrels)
    try:
        _, per_a = evaluate_run(read_run(run_a), judged, metrics)
        _, per_b = evaluate_run(read_run(run_b), judged, metrics)
    except ValueError as exc:
        raise NeurankError(f"--metric: {exc}") from None
    console.print(_significance_table(
        f"{run_b.name} against {run_a.name} · {len(judged)} judged queries · paired "
        "randomization test (10,000 sign flips), 95% bootstrap interval", run_a.name, per_a,
        [(run_b.name, per_b)], metrics))
    if json_out:
        atomic_write_json(json_out, [paired_test(per_a, per_b, m).to_dict() for m in metrics])


@app.command()
def tune(
    collection: Annotated[Path, typer.Argument(help="Collection folder.")],
    dataset: Annotated[Path, typer.Option(help="BEIR folder with queries.jsonl and qrels/.")],
    split: Annotated[str, typer.Option(help="Validation split (never the test split).")] = "train",
    metric: Annotated[str, typer.Option(help="Metric to maximise.")] = "ndcg@10",
    dev_fraction: Annotated[float | None, typer.Option(
        "--dev-fraction", min=0.05, max=0.9,
        help="Tune on this seeded share of the split's queries; `evaluate` on the same split "
             "then scores only the others (for collections with test qrels only).")] = None,
    cv: Annotated[int | None, typer.Option(
        "--cv", min=2, help="Also estimate by K-fold cross-validation what the tuned settings "
                            "score on queries they were not chosen on (for a split that is "
                            "also reported, e.g. test qrels only).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --dev-fraction's draw and --cv's folds.")
                    ] = 0,
    held_out_of: Annotated[Path | None, typer.Option(
        "--held-out-of", help="Tune only on the queries this trained encoder (a two-tower or "
                              "fine-tuned checkpoint) held out of its training: the split's "
                              "other queries trained it, so its scores on them are "
                              "optimistic.")] = None,
    threshold: Annotated[str | None, typer.Option(
        help="Instead of fusion: choose the learned ranker's score threshold that maximises "
             "this metric (e.g. f1@3); hits below it are dropped.")] = None,
) -> None:
    """Choose hybrid fusion (method, normalisation, weights) on a split and save it, or with
    --threshold the learned ranker's score threshold."""
    import math

    import numpy as np

    from neurank.data.beir import read_beir
    from neurank.search.tune import tune_fusion

    if split == "test" and dev_fraction is None:
        console_err.print("[yellow]warning:[/] tuning on the test split makes test figures "
                          "optimistic; use a train or dev split, or --dev-fraction")
    pipeline = _pipeline(collection)
    data = read_beir(dataset, split, doc_ids=pipeline.collection.doc_ids())
    if threshold is not None:
        if dev_fraction is not None:
            raise NeurankError("--dev-fraction chooses fusion queries; --threshold uses the "
                               "ranker's own held-out queries (or the whole split)")
        _tune_threshold(pipeline, data, threshold)
        return
    tuning_ids = None
    if held_out_of is not None:
        if dev_fraction is not None:
            raise NeurankError("give --dev-fraction or --held-out-of, not both")
        from neurank.finetune.held_out import checkpoint_held_out_queries

        tuning_ids = checkpoint_held_out_queries(held_out_of, dataset, set(data.qrels))
        data = data.subset(set(tuning_ids))
        console_err.print(f"tuning on the {len(tuning_ids)} queries {held_out_of} held out")
    if dev_fraction is not None:
        qids = sorted(data.qrels)
        count = min(len(qids) - 1, max(1, math.ceil(dev_fraction * len(qids))))
        if count < 1:
            raise NeurankError("--dev-fraction needs a split with at least 2 queries")
        drawn = np.random.default_rng(seed).choice(len(qids), size=count, replace=False)
        tuning_ids = sorted(qids[i] for i in drawn)
        data = data.subset(set(tuning_ids))
        console_err.print(f"tuning on {count} of the {len(qids)} queries of {split} (seed {seed})")
    result = tune_fusion(pipeline, data, metric=metric)
    before = next((score for cfg, score in result.trials if cfg == pipeline.fusion), None)
    from neurank.config import TuningRecord

    validation = None
    if cv is not None:
        from neurank.search.tune import cross_validate

        try:
            validation = cross_validate(result, cv, seed)
        except ValueError as exc:
            raise NeurankError(str(exc)) from None
    record = TuningRecord(dataset=data.name, split=split, queries=len(data.qrels), metric=metric,
                          score=result.score, query_ids=tuning_ids, cv_folds=cv,
                          cv_score=validation.score if validation else None)
    config = pipeline.collection.config.model_copy(update={"fusion": result.best,
                                                           "tuned_on": record})
    pipeline.collection.update_config(config)
    best = result.best
    detail = (f"rrf k={best.rrf_k}" if best.method == "rrf" else best.normalization)
    console.print(f"best on {data.name}/{split} ({len(data.qrels)} queries): {best.method} "
                  f"{detail}, dense_weight={best.dense_weight:.2f} -> {metric}={result.score:.4f}"
                  + (f" (current settings: {before:.4f})" if before is not None else ""))
    if validation is not None:
        console.print(f"{cv}-fold cross-validated {metric}: {validation.score:.4f} (each query "
                      f"scored by the settings chosen on the other folds; folds "
                      f"{', '.join(f'{v:.4f}' for v in validation.fold_scores)}); the saved "
                      f"settings are chosen on all {len(data.qrels)} queries")
    console.print(f"saved into {collection}/manifest.json")


def _tune_threshold(pipeline, data, metric: str) -> None:
    from neurank.eval.metrics import parse_metric
    from neurank.search.ranker import store_ranker
    from neurank.search.ranker_training import tune_threshold

    try:
        parse_metric(metric)
    except ValueError as exc:
        raise NeurankError(f"--threshold: {exc}") from None
    ranker, query_ids, with_threshold, without = tune_threshold(pipeline, data, metric)
    store_ranker(pipeline.collection, ranker)
    chosen = "none (no threshold beats returning every hit)" if ranker.threshold is None else (
        f"{ranker.threshold:.4f}")
    console.print(f"threshold on {data.name}/{data.split} ({len(query_ids)} queries): {chosen} "
                  f"-> {metric} {with_threshold:.4f} (without: {without:.4f}); stored in "
                  f"{pipeline.collection.folder}")
