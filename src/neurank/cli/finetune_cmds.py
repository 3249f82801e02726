"""neurank finetune (train an encoder, gated by its base) and finetune evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurank.artifacts import atomic_write_json
from neurank.cli.app import app, console, console_err
from neurank.config import DEFAULT_MODEL
from neurank.errors import NeurankError

finetune_app = typer.Typer(help="Fine-tune a sentence encoder (MNRL + Matryoshka, LoRA, "
                                "curriculum), gated by the raw base model.")
app.add_typer(finetune_app, name="finetune")


@finetune_app.callback(invoke_without_command=True)
def finetune_cmd(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Checkpoint folder.")] = None,
    pairs: Annotated[Path | None, typer.Option(
        help="TSV/CSV with sentence1, sentence2 [, score] [, phase] columns.")] = None,
    dataset: Annotated[Path | None, typer.Option(help="BEIR folder (qrels of --split).")] = None,
    split: Annotated[str, typer.Option(help="BEIR split to train on.")] = "train",
    base: Annotated[str, typer.Option(help="Base model (id, folder or neurank checkpoint).")
                    ] = DEFAULT_MODEL,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs (per curriculum phase).")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 32,
    lr: Annotated[float | None, typer.Option(
        help="Learning rate [default: 2e-5, or 2e-4 with --lora].")] = None,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (merged into the saved "
                                            "weights).")] = False,
    curriculum: Annotated[str, typer.Option(
        help="none, auto (easy -> hard by BM25 difficulty) or field (the pairs' phase column).")
    ] = "none",
    hard_negatives: Annotated[bool, typer.Option(help="One BM25 hard negative per BEIR pair.")
                              ] = True,
    negative_margin: Annotated[float, typer.Option(
        "--negative-margin", min=0.0, max=0.99,
        help="Skip BM25 negatives scoring above (1 - margin) x the best positive (false "
             "negatives); 0.05 is NV-Retriever's choice.")] = 0.0,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1,
                                                  help="At most this many steps per phase.")
                         ] = None,
    matryoshka_dims: Annotated[str, typer.Option(
        "--matryoshka-dims", help="Comma-separated dimensions for MatryoshkaLoss, or 'none' "
                                  "for the plain loss.")] = "384,256,128,64,32",
    validation_fraction: Annotated[float, typer.Option(
        "--validation-fraction", min=0.01, max=0.5,
        help="Share of queries (or pairs) carved out for the baseline gate.")] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
    force: Annotated[bool, typer.Option(help="Save even when worse than the base.")] = False,
) -> None:
    """Fine-tune; the base and the result are evaluated on the same validation carve first."""
    if ctx.invoked_subcommand is not None:
        return
    from neurank.finetune.data import read_training_data
    from neurank.finetune.train import FinetuneConfig, finetune, save_finetuned

    if out is None or (pairs is None) == (dataset is None):
        raise NeurankError("give --out and one of --pairs FILE or --dataset BEIR_DIR "
                           "(or a subcommand: finetune evaluate)")
    if curriculum not in ("none", "auto", "field"):
        raise NeurankError(f"--curriculum must be none, auto or field, got {curriculum!r}")
    config = FinetuneConfig(base=base, epochs=epochs, batch_size=batch_size, lr=lr, lora=lora,
                            curriculum=curriculum, hard_negatives=hard_negatives,  # type: ignore[arg-type]
                            max_steps=max_steps, seed=seed, negative_margin=negative_margin,
                            matryoshka_dims=_dimensions(matryoshka_dims),
                            validation_fraction=validation_fraction)
    training = read_training_data(dataset=dataset, split=split, pairs=pairs,
                                  mine_negatives=hard_negatives or curriculum == "auto",
                                  negative_margin=negative_margin, log=console_err.print)
    data = training.record_for(config.validation_fraction, config.seed)
    console_err.print(f"{len(training.pairs)} training pairs from {training.pairs.source}")
    model, result = finetune(config, training.pairs, queries=training.queries,
                             log=console_err.print)
    verdict = "better" if result.improved else "NOT better"
    console.print(f"validation {result.primary}: base {result.base_metrics[result.primary]:.4f}"
                  f" -> fine-tuned {result.tuned_metrics[result.primary]:.4f} ({verdict} than "
                  f"the base; {result.seconds:.0f} s)")
    if not result.improved and not force:
        raise NeurankError(f"the fine-tuned model is worse than {base} on validation "
                           f"{result.primary}: not saved (--force keeps it)")
    result.promoted = result.improved
    save_finetuned(model, out, config, result, data)
    console.print(f"[green]saved[/] to {out} (use it as `neurank index SOURCE --model {out}`)")


def _dimensions(text: str) -> list[int]:
    if text.strip().lower() == "none":
        return []
    try:
        dims = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise NeurankError(f"--matryoshka-dims must be integers like 384,256,128 or 'none', "
                           f"got {text!r}") from None
    if not dims or min(dims) < 1:
        raise NeurankError(f"--matryoshka-dims needs positive integers, got {text!r}")
    return sorted(set(dims), reverse=True)


@finetune_app.command("evaluate")
def evaluate_cmd(
    model: Annotated[str, typer.Argument(help="Model id, folder, or finetune checkpoint.")],
    pairs: Annotated[Path, typer.Option(help="Scored pairs (sentence1, sentence2, score).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
) -> None:
    """Spearman, ROC-AUC and best-threshold F1 of a model on scored pairs."""
    from neurank.encoders import load_encoder
    from neurank.finetune.data import read_pairs
    from neurank.finetune.evaluation import pair_metrics

    scored = read_pairs(pairs)
    if scored.scores is None:
        raise NeurankError(f"{pairs} has no score column: evaluate needs scored pairs")
    encoder = load_encoder(model, "torch")
    metrics = pair_metrics(lambda texts: encoder.encode(texts), scored)
    console.print(f"{model} on {pairs} ({len(scored)} pairs; positives = score > "
                  f"{scored.scale_midpoint():g}): " + " ".join(
                      f"{k}={v:.4f}" for k, v in metrics.items()))
    if json_out:
        atomic_write_json(json_out, {"model": model, "pairs": str(pairs),
                                     "metrics": {k: metrics[k] for k in
                                                 ("spearman", "roc_auc", "f1")},
                                     "f1_threshold": metrics["f1_threshold"]})
