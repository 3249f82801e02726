"""neurank classify train / evaluate / predict: multi-label text classification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from neurank.artifacts import atomic_write_json
from neurank.cli.app import app, console, console_err
from neurank.errors import NeurankError

if TYPE_CHECKING:
    from neurank.classify.data import LabelledTexts

classify = typer.Typer(help="Train, evaluate and run multi-label text classifiers.",
                       no_args_is_help=True)
app.add_typer(classify, name="classify")

TextField = Annotated[str, typer.Option("--text-field", help="Field/column holding the text.")]
LabelsField = Annotated[str, typer.Option(
    "--labels-field", help="Field/column holding the labels (a list, or a string joined by ;).")]


@classify.command()
def train(
    data: Annotated[Path, typer.Option(
        "--data", help="Folder with train/dev(/test) .jsonl/.csv/.tsv (+ labels.txt), or one file "
                       "(then --dev-fraction of it is held out).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write.")],
    mode: Annotated[str, typer.Option(help="frozen (embeddings + head, fast) or finetune.")] = "frozen",
    base: Annotated[str | None, typer.Option(help="Encoder to start from (id or folder).")] = None,
    epochs: Annotated[int | None, typer.Option(
        help="Most epochs (default: 200 frozen, with early stopping; 4 finetune).")] = None,
    budget_s: Annotated[float | None, typer.Option(
        "--budget-s", min=1, help="Stop after the epoch that passes this many seconds.")] = None,
    loss: Annotated[str, typer.Option(help="bce or focal.")] = "bce",
    pos_weight: Annotated[str | None, typer.Option(
        help="none or sqrt: weight each label's positives by sqrt(negatives/positives) "
             "(default: sqrt for finetune, none for frozen).")] = None,
    augment_to: Annotated[int | None, typer.Option(
        "--augment-to", min=1, help="Grow the training split to N texts with perturbed copies.")] = None,
    dev_fraction: Annotated[float, typer.Option(help="Held-out share when there is no dev split.")] = 0.1,
    text_field: TextField = "text",
    labels_field: LabelsField = "labels",
    seed: Annotated[int, typer.Option(help="Seed of the split and training.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from OUT.training/.")] = False,
) -> None:
    """Train a multi-label classifier; thresholds per label are tuned on the dev split."""
    from pydantic import ValidationError

    from neurank.classify import read_labelled, train_classifier
    from neurank.config import ClassifierConfig, TrainerConfig

    if mode not in ("frozen", "finetune"):
        raise NeurankError(f"--mode must be frozen or finetune, got {mode!r}")
    try:
        config = ClassifierConfig.for_mode(mode, loss=loss,
                                           **({"pos_weight": pos_weight} if pos_weight else {}),
                                           augment_to=augment_to, dev_fraction=dev_fraction,
                                           **({"base": base} if base else {}))
        updates = {"seed": seed, "max_time_s": budget_s, **({"epochs": epochs} if epochs else {})}
        config.trainer = TrainerConfig(**{**config.trainer.model_dump(), **updates})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise NeurankError(f"--{'-'.join(map(str, error['loc']))}: {error['msg']}") from None
    options = {"text_field": text_field, "labels_field": labels_field}
    train_data = read_labelled(data, "train", **options)
    dev_data = None
    if data.is_dir() and any((data / f"dev{s}").exists() for s in (".jsonl", ".csv", ".tsv")):
        dev_data = read_labelled(data, "dev", **options)
    console_err.print(_label_statistics(train_data, dev_data))
    if dev_data is None:
        console_err.print(f"no dev split: holding out {dev_fraction:.0%} of train (seeded)")
    result = train_classifier(train_data, dev_data, config, out, resume=resume)
    metrics = result.dev_metrics
    console.print(f"[green]saved[/] {mode} classifier ({len(result.labels)} labels) to {out}: "
                  f"dev macro-F1 {metrics['macro_f1']:.4f} at tuned thresholds "
                  f"({metrics['macro_f1@0.5']:.4f} at 0.5), micro-F1 {metrics['micro_f1']:.4f}, "
                  f"{result.seconds:.0f} s")


def _label_statistics(train: LabelledTexts, dev: LabelledTexts | None) -> Table:
    """Texts per label in train (and dev), rarest last: what thresholds can be tuned on."""
    train_counts, dev_counts = train.counts(), dev.counts() if dev else None
    table = Table(title=f"{train.source}: {len(train)} texts, {len(train_counts)} labels, "
                        f"{sum(train_counts.values()) / len(train):.2f} labels per text",
                  title_justify="left")
    table.add_column("label")
    table.add_column("train", justify="right")
    if dev_counts is not None:
        table.add_column("dev", justify="right")
    for label, count in train_counts.most_common():
        table.add_row(label, str(count), *([str(dev_counts[label])] if dev_counts is not None
                                            else []))
    return table


@classify.command("evaluate")
def evaluate_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder from `classify train`.")],
    data: Annotated[Path, typer.Option("--data", help="Folder of splits or one labelled file.")],
    split: Annotated[str, typer.Option(help="Split to evaluate (folders only).")] = "test",
    encoder: Annotated[str | None, typer.Option(help="auto, onnx or torch (default: as trained).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
    text_field: TextField = "text",
    labels_field: LabelsField = "labels",
) -> None:
    """Micro/macro F1 and per-label scores of a classifier at its tuned thresholds."""
    from neurank.classify import Classifier, read_labelled
    from neurank.classify.evaluation import dataset_name, evaluation_report

    classifier = Classifier(checkpoint, encoder=encoder)
    labelled = read_labelled(data, split, text_field=text_field, labels_field=labels_field)
    report = evaluation_report(classifier, labelled, dataset=dataset_name(data),
                               split=split if data.is_dir() else "file", show_progress=True)
    table = Table(title=f"{report['dataset']} · {report['split']} · {len(labelled)} texts · "
                        f"{classifier.mode} classifier · {report['encoder']}",
                  title_justify="left")
    names = ("micro_f1", "macro_f1", "micro_precision", "micro_recall", "exact_match")
    for name in names:
        table.add_column(name, justify="right")
    table.add_row(*[f"{report['metrics'][n]:.4f}" for n in names])
    console.print(table)
    worst = sorted(report["per_label"].items(), key=lambda kv: kv[1]["f1"])[:5]
    console.print("lowest F1: " + ", ".join(f"{k} {v['f1']:.2f} (n={v['support']})"
                                            for k, v in worst))
    if json_out:
        atomic_write_json(json_out, report)


@classify.command()
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder from `classify train`.")],
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")],
    encoder: Annotated[str | None, typer.Option(help="auto, onnx or torch (default: as trained).")] = None,
    top: Annotated[int, typer.Option(help="Probabilities shown per text in the table.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Labels (over their thresholds) and probabilities for each text."""
    from neurank.classify import Classifier

    if any(not t.strip() for t in texts):
        raise NeurankError("texts must not be empty")
    classifier = Classifier(checkpoint, encoder=encoder)
    predictions = classifier.predict(texts)
    if as_json:
        print(json.dumps([{"text": t, **p.to_json()} for t, p in zip(texts, predictions,
                                                                        strict=True)]))
        return
    for text, prediction in zip(texts, predictions, strict=True):
        table = Table(title=f"{text[:80]!r} → {', '.join(prediction.labels) or '(no label)'}",
                      title_justify="left")
        table.add_column("label")
        table.add_column("probability", justify="right")
        table.add_column("threshold", justify="right")
        best = sorted(prediction.scores.items(), key=lambda kv: -kv[1])[:top]
        for label, probability in best:
            table.add_row(label, f"{probability:.3f}", f"{classifier.thresholds.values[label]:.2f}")
        console.print(table)
