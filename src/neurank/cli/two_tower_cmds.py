"""neurank two-tower train: a retriever trained from scratch on word embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurank.cli.app import app, console, console_err

two_tower_app = typer.Typer(help="Two-tower retrieval trained from scratch (GloVe or random "
                                 "word embeddings, InfoNCE), usable as a collection's encoder.")
app.add_typer(two_tower_app, name="two-tower")


@two_tower_app.command("train")
def train_cmd(
    source: Annotated[Path, typer.Argument(help="BEIR folder (corpus + qrels) or a corpus file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder.")],
    split: Annotated[str, typer.Option(
        help="Qrels split of a BEIR folder that trains and validates (when present).")] = "train",
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="YAML settings of the model and trainer (see TwoTowerConfig).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs (early stopping on "
                                                           "validation MRR@10).")] = None,
    pooling: Annotated[str | None, typer.Option(help="mean, weighted or gru.")] = None,
    embeddings: Annotated[str | None, typer.Option(
        help="glove (GloVe 6B 50-d, neurank[train]) or random.")] = None,
    budget_s: Annotated[float | None, typer.Option("--budget-s", min=1.0,
                                                   help="Stop after this many seconds.")] = None,
    tensorboard: Annotated[Path | None, typer.Option(help="TensorBoard log folder.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train a two-tower retriever; use it with `neurank index SOURCE --encoder two-tower:OUT`."""
    from neurank.config import read_settings, validate_settings
    from neurank.finetune.data import fingerprint
    from neurank.finetune.two_tower import (
        TwoTowerConfig,
        read_two_tower_source,
        save_two_tower,
        train_two_tower,
    )

    settings = read_settings(config_file) if config_file is not None else {}
    for key, value in (("pooling", pooling), ("embeddings", embeddings)):
        if value is not None:
            settings[key] = value
    trainer = settings.setdefault("trainer", {})
    for key, value in (("epochs", epochs), ("max_time_s", budget_s), ("seed", seed),
                       ("tensorboard_dir", str(tensorboard) if tensorboard else None)):
        if value is not None:
            trainer.setdefault(key, value)
    config = validate_settings(settings, TwoTowerConfig, str(config_file or "options"))
    data = read_two_tower_source(source, split)
    model, vocabulary, result = train_two_tower(data, config, log=console_err.print)
    save_two_tower(model, vocabulary, out, config, result,
                   {"source": str(source), "split": split, "sha256": fingerprint(source),
                    "validation_queries": [qid for qid, _, _ in data.validation_queries]})
    best = " ".join(f"{k}={result.best[k]:.4f}" for k in ("mrr@10", "recall@10", "ndcg@10")
                    if k in result.best)
    console.print(f"[green]saved[/] to {out} (best epoch {int(result.best.get('epoch', 0))}: "
                  f"{best}; {result.seconds:.0f} s). Index with "
                  f"`neurank index SOURCE --out DIR --encoder two-tower:{out}`")
