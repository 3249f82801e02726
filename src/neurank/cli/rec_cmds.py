"""neurank rec train / evaluate / recommend: the recommendation flow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from neurank.artifacts import atomic_write_json
from neurank.cli.app import app, console, console_err
from neurank.errors import NeurankError

rec = typer.Typer(help="Recommend items to users from interaction logs.", no_args_is_help=True)
app.add_typer(rec, name="rec")

DataOption = Annotated[Path, typer.Option(
    "--data", help="NCF folder/prefix (*.train.rating ...), MovieLens file/folder, or CSV/JSONL log.")]
FormatOption = Annotated[str, typer.Option(
    "--format", help="auto, ncf, movielens or csv (logs are split leave-one-out by time).")]


def _split(data: Path, fmt: str, seed: int):
    from neurank.data.interactions import read_interactions

    if fmt not in ("auto", "ncf", "movielens", "csv"):
        raise NeurankError(f"--format must be auto, ncf, movielens or csv, got {fmt!r}")
    return read_interactions(data, "log" if fmt in ("movielens", "csv") else fmt, seed=seed)


@rec.command()
def train(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write.")],
    model: Annotated[str, typer.Option(
        help="auto, blend, pop, itemknn, rp3beta, ease, als, bpr, gmf, mlp or neumf.")] = "auto",
    fmt: FormatOption = "auto",
    budget_s: Annotated[float, typer.Option(
        "--budget-s", min=1, help="Time budget of --model auto, in seconds.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed for splits, sampling and training.")] = 0,
) -> None:
    """Train a recommender; hyperparameters are chosen on a validation split carved from train."""
    from neurank.recommend.selection import GRIDS, select_model

    split = _split(data, fmt, seed)
    console_err.print(f"{split.name}: {split.train.num_users} users, {split.train.num_items} "
                      f"items, {len(split.train)} training interactions ({split.description})")
    grids = GRIDS if model == "auto" else {model: GRIDS.get(model, [{}])}
    selection = select_model(split.train, model, budget_s=budget_s, seed=seed, grids=grids,
                             show_progress=True, log=console_err.print)
    best = selection.chosen
    selection.model.save(out, metrics={"validation": best.metrics})
    if len(selection.trials) > 1:
        console.print(_leaderboard(selection))
    console.print(f"[green]saved[/] {best.describe()} to {out} "
                  f"(validation ndcg@10={best.metrics['ndcg@10']:.4f})")


def _leaderboard(selection, top: int = 10) -> Table:
    """The best trials by validation NDCG@10 (all of them in the checkpoint's manifest)."""
    ranked = sorted(selection.trials, key=lambda t: -t.metrics["ndcg@10"])
    table = Table(title=f"validation leaderboard · {len(ranked)} trials (top {min(top, len(ranked))})",
                  title_justify="left")
    for column in ("#", "model", "hr@10", "ndcg@10", "seconds"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for rank, trial in enumerate(ranked[:top], start=1):
        chosen = " [green]<- chosen[/]" if trial is selection.chosen else ""
        table.add_row(str(rank), trial.describe() + chosen, f"{trial.metrics['hr@10']:.4f}",
                      f"{trial.metrics['ndcg@10']:.4f}", f"{trial.seconds:.1f}")
    return table


@rec.command("evaluate")
def evaluate_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder from `rec train`.")],
    data: DataOption,
    fmt: FormatOption = "auto",
    protocol: Annotated[str, typer.Option(help="sampled (held-out vs negatives) or full.")] = "sampled",
    ties: Annotated[str, typer.Option(help="random (seeded) or pessimistic.")] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the split / tie rule.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
) -> None:
    """Evaluate a trained recommender on the test split of --data."""
    from neurank.recommend import load_recommender
    from neurank.recommend.evaluation import evaluation_report

    if protocol not in ("sampled", "full"):
        raise NeurankError(f"--protocol must be sampled or full, got {protocol!r}")
    if ties not in ("random", "pessimistic"):
        raise NeurankError(f"--ties must be random or pessimistic, got {ties!r}")
    model = load_recommender(checkpoint)
    split = _split(data, fmt, seed)
    if split.train.item_ids != model.item_ids or split.train.user_ids != model.user_ids:
        raise NeurankError(f"{checkpoint} was trained on other users/items than {data}")
    report = evaluation_report(model, split.test, dataset=split.name, protocol=protocol,
                               ties=ties, seed=seed)  # type: ignore[arg-type]
    table = Table(title=f"{split.name} · {model.family} · {report['description']}",
                  title_justify="left")
    for name in report["metrics"]:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_row(*[f"{v:.4f}" for v in report["metrics"].values()])
    console.print(table)
    if json_out:
        atomic_write_json(json_out, report)


@rec.command()
def recommend(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder from `rec train`.")],
    user: Annotated[list[str], typer.Option("--user", help="User id (repeatable).")],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Also recommend items already seen.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Top-k items for users; unknown users get popular items, flagged cold_start."""
    from neurank.recommend import load_recommender

    model = load_recommender(checkpoint)
    results = model.recommend(user, k, exclude_seen=not include_seen)
    if as_json:
        payload = [r.to_dict() for r in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload))
        return
    for result in results:
        flag = " [yellow](cold start: popular items)[/]" if result.cold_start else ""
        table = Table(title=f"user {result.user}{flag}", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("item")
        table.add_column("score", justify="right")
        for rank, (item, score) in enumerate(zip(result.items, result.scores, strict=True), 1):
            table.add_row(str(rank), item, f"{score:.4f}")
        console.print(table)
