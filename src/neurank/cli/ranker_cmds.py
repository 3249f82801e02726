"""ranker train / attach: the learned ranker of a collection (the "learned" search mode)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from neurank.artifacts import atomic_write_json
from neurank.cli.app import app, console, console_err
from neurank.errors import NeurankError

ranker = typer.Typer(help="Train or attach the learned ranker of a collection (--mode learned).",
                     no_args_is_help=True)
app.add_typer(ranker, name="ranker")
TRAINING_STATE = ".ranker-training"


@ranker.command()
def train(
    collection: Annotated[Path, typer.Argument(help="Collection folder.")],
    dataset: Annotated[Path, typer.Option(help="BEIR folder with queries.jsonl and qrels/.")],
    split: Annotated[str, typer.Option(help="Judged split to train on (never the one you "
                                            "report, unless with --cv).")] = "train",
    kind: Annotated[str, typer.Option(help="neural (graded ranker) or lambdamart.")] = "neural",
    cv: Annotated[int | None, typer.Option(
        "--cv", min=2, help="K-fold cross-validation over the split's queries: reports "
                            "out-of-fold metrics, then trains the stored ranker on all.")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the report (with --cv: out-of-fold metrics, evaluate's format).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Most epochs (neural).")] = None,
    hard_negatives: Annotated[int | None, typer.Option(
        help="Top-ranked non-relevant candidates per training list (default: all).")] = None,
    random_negatives: Annotated[int | None, typer.Option(
        help="Random documents per training list.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the carve, sampling and initial weights.")] = 0,
    features: Annotated[str | None, typer.Option(
        help="Comma-separated feature groups (scores, terms, title, metadata, feedback; "
             "default: all five).")] = None,
    runtime: Annotated[str, typer.Option(
        help="What scores the neural ranker: auto (torch on a GPU, onnx otherwise), torch, "
             "torch-int8, onnx or onnx-int8 (int8 = dynamic quantization, CPU; weights are "
             "stored fp32 either way).")] = "auto",
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an interrupted neural training.")] = False,
) -> None:
    """Train a learned ranker on a collection's candidates for judged queries and store it in
    the collection (searched with --mode learned)."""
    from neurank.config import RankerConfig
    from neurank.data.beir import read_beir
    from neurank.eval.metrics import evaluate_run
    from neurank.index.collection import Collection
    from neurank.search.evaluation import DEFAULT_METRICS
    from neurank.search.pipeline import SearchPipeline
    from neurank.search.ranker import store_ranker
    from neurank.search.ranker_training import cross_validate, train_ranker

    if kind not in ("neural", "lambdamart"):
        raise NeurankError(f"--kind must be neural or lambdamart, got {kind!r}")
    updates: dict = {"kind": kind, "seed": seed, "runtime": runtime}
    if hard_negatives is not None:
        updates["hard_negatives"] = hard_negatives
    if random_negatives is not None:
        updates["random_negatives"] = random_negatives
    if features is not None:
        updates["features"] = {"groups": [g.strip() for g in features.split(",") if g.strip()]}
    try:
        config = RankerConfig(**updates)
    except ValueError as exc:
        raise NeurankError(f"ranker settings: {'.'.join(map(str, exc.errors()[0]['loc']))}: "  # type: ignore[attr-defined]
                           f"{exc.errors()[0]['msg']}") from None
    if epochs is not None:
        config.trainer = config.trainer.model_copy(update={"epochs": epochs})
    pipeline = SearchPipeline(Collection.load(collection))
    data = read_beir(dataset, split, doc_ids=pipeline.collection.doc_ids())
    for note in data.problems():
        console_err.print(f"[yellow]warning:[/] {note}")
    report: dict = {}
    if cv is not None:
        console_err.print(f"{cv}-fold cross-validation over the queries of {data.name}/{split}")
        run, _ = cross_validate(pipeline, data, config, cv)
        metrics, _ = evaluate_run(run, data.qrels, DEFAULT_METRICS)
        report = {"dataset": data.name, "split": split, "mode": "learned",
                  "protocol": f"cv-{cv}", "num_queries": len(data.qrels), "metrics": metrics}
        table = Table(title=f"{data.name} · {split} · learned ({kind}) · {cv}-fold CV, "
                            "out-of-fold", title_justify="left")
        for name in metrics:
            table.add_column(name, justify="right")
        table.add_row(*(f"{v:.4f}" for v in metrics.values()))
        console.print(table)
    state = collection / TRAINING_STATE
    trained = train_ranker(pipeline, data, config, checkpoint_dir=state, resume=resume)
    store_ranker(pipeline.collection, trained.ranker)
    shutil.rmtree(state, ignore_errors=True)
    learned = trained.ranker
    if not report:
        report = {"dataset": data.name, "split": split, "kind": kind, **learned.report,
                  "fusion": learned.fusion}
    summary = ", ".join(f"{name} {value:.4f}" for name, value in
                        learned.report["validation"].items())
    console.print(f"[green]trained[/] a {kind} ranker on {learned.report['train_queries']} "
                  f"queries of {data.name}/{split} in {trained.seconds:.0f} s; validation "
                  f"({len(learned.report['validation_query_ids'])} held-out queries): {summary}; "
                  f"fusion {learned.fusion}")
    console.print(f"stored in {collection}: search it with --mode learned")
    if json_out:
        atomic_write_json(json_out, report)


@ranker.command()
def attach(
    collection: Annotated[Path, typer.Argument(help="Collection folder to give the ranker.")],
    source: Annotated[Path, typer.Option(
        "--from", help="Collection folder whose ranker to copy, or a ranker checkpoint (a "
                       "`neurank sweep` trial).")],
) -> None:
    """Reuse the ranker of another collection or a ranker checkpoint (refused if its encoder
    differs)."""
    from neurank.errors import CollectionError
    from neurank.index.collection import Collection
    from neurank.search.ranker import KIND, LearnedRanker, collection_ranker

    target = Collection.load(collection)
    if _checkpoint_kind(source) == KIND:
        learned, folder = LearnedRanker.load(source), source
    else:
        try:
            origin = Collection.load(source)
        except CollectionError as exc:
            raise NeurankError(f"{source} is neither a collection nor a ranker checkpoint: "
                               f"{exc}") from None
        learned, folder = collection_ranker(origin), origin.ranker_folder
    learned.check_compatible(target, source=f"the ranker of {source}")
    target.set_ranker(folder)
    console.print(f"[green]attached[/] the {learned.config.kind} ranker of {source} to "
                  f"{collection}")


def _checkpoint_kind(folder: Path) -> str | None:
    """The kind of a neurank checkpoint folder; None for anything else (a collection)."""
    from neurank.artifacts import read_checkpoint_manifest

    try:
        return read_checkpoint_manifest(folder).get("kind")
    except NeurankError:
        return None
