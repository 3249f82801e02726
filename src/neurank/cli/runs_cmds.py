"""neurank sweep (an Optuna study over a trainer) and neurank runs (the checkpoint leaderboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurank.cli.app import app, console, console_err


@app.command()
def sweep(
    config_file: Annotated[Path, typer.Argument(help="Sweep YAML: trainer, source, out, "
                                                     "trials, budget_s, settings, space.")],
) -> None:
    """Search a trainer's settings with Optuna within a time budget (pruning bad trials);
    every trial is logged to OUT/trials.jsonl and TensorBoard, completed ones checkpointed."""
    from neurank.config import read_settings, validate_settings
    from neurank.finetune.sweep import TRIAL_LOG, SweepConfig, run_sweep

    config = validate_settings(read_settings(config_file), SweepConfig, str(config_file))
    study = run_sweep(config, log=console_err.print)
    states = [t.state.name.lower() for t in study.trials]
    summary = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    console.print(f"{len(study.trials)} trials ({summary}); log in {config.out / TRIAL_LOG}")
    if any(s == "complete" for s in states):
        best = study.best_trial
        folder = config.out / f"trial-{best.number:03d}"
        where = folder if folder.exists() else "not saved (not better than the base model)"
        console.print(f"best: trial {best.number} {study.user_attrs['metric']}={best.value:.4f} "
                      f"{best.params} -> {where}")
    console.print(f"leaderboard: `neurank runs {config.out}`")


@app.command()
def runs(
    root: Annotated[Path, typer.Argument(help="Folder searched for checkpoints.")] = Path("runs"),
    metric: Annotated[str, typer.Option(help="Validation metric that ranks them.")] = "mrr@10",
    plot: Annotated[Path | None, typer.Option(
        help="PNG of validation curves (default ROOT/leaderboard.png).")] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Skip the plot.")] = False,
    top: Annotated[int, typer.Option(min=1, help="Rows (and curves) shown.")] = 20,
) -> None:
    """The leaderboard of checkpoints under ROOT: metric, Recall@k, size, date."""
    from rich.table import Table

    from neurank.errors import NeurankError
    from neurank.training.runs import find_runs, plot_curves, rank_runs

    ranked = rank_runs(find_runs(root), metric)
    if not ranked:
        raise NeurankError(f"no neurank checkpoints under {root}")
    table = Table(title=f"Checkpoints under {root}, by validation {metric}", title_justify="left")
    columns = [metric] + [m for m in ("recall@10", "recall@100", "ndcg@10") if m != metric]
    for name in ("#", "run", "kind", *columns, "epochs", "MB", "saved"):
        table.add_column(name, justify="left" if name in ("run", "kind", "saved") else "right")
    for position, run in enumerate(ranked[:top], start=1):
        values = [f"{run.metrics[m]:.4f}" if m in run.metrics else "-" for m in columns]
        table.add_row(str(position), str(run.folder.relative_to(root)) or ".", run.kind,
                      *values, str(len(run.history) or "-"), f"{run.size_bytes / 1e6:.2f}",
                      run.saved_at)
    console.print(table)
    if not no_plot:
        try:
            path = plot_curves(ranked, metric, plot or root / "leaderboard.png", root, top=top)
        except NeurankError as exc:
            console_err.print(f"[yellow]no plot:[/] {exc}")
        else:
            console.print(f"curves: {path}")
