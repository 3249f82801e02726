"""The checkpoint leaderboard: every trained checkpoint under a folder, ranked by a metric,
and their validation curves in one plot (`neurank runs DIR`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurank.artifacts import read_checkpoint_manifest
from neurank.errors import NeurankError

MANIFEST = "manifest.json"


@dataclass
class RunSummary:
    """One checkpoint: where, what kind, its best validation metrics, history, size, date."""

    folder: Path
    kind: str
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    size_bytes: int = 0
    saved_at: str = ""

    def value(self, metric: str) -> float:
        return self.metrics.get(metric, math.nan)


def _section(manifest: dict[str, Any], *path: str) -> Any:
    node: Any = manifest
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _best_metrics(manifest: dict[str, Any]) -> dict[str, float]:
    """The checkpoint's best validation figures, wherever its kind keeps them (two-tower:
    `best`; fine-tuned encoder: its gate's `validation.finetuned`; ranker: `report.best`)."""
    for candidate in (manifest.get("best"), _section(manifest, "validation", "finetuned"),
                      _section(manifest, "report", "best")):
        if isinstance(candidate, dict):
            return {k: float(v) for k, v in candidate.items() if isinstance(v, int | float)}
    history = _history(manifest)
    if history and isinstance(history[-1], dict):
        return {k: float(v) for k, v in history[-1].items() if isinstance(v, int | float)}
    return {}


def _history(manifest: dict[str, Any]) -> list[Any]:
    history = manifest.get("history") or _section(manifest, "report", "history")
    return history if isinstance(history, list) else []


def find_runs(root: Path) -> list[RunSummary]:
    """Every readable neurank checkpoint below `root` (resumable `last/`/`best/` trainer
    copies and staging folders skipped); unreadable manifests are skipped, not fatal."""
    if not root.is_dir():
        raise NeurankError(f"{root} is not a folder of runs")
    runs = []
    for manifest_path in sorted(root.rglob(MANIFEST)):
        folder = manifest_path.parent
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        try:
            manifest = read_checkpoint_manifest(folder)
        except NeurankError:
            continue
        if manifest.get("kind") == "trainer":  # an epoch snapshot of a run, not a model
            continue
        history = [h for h in _history(manifest) if isinstance(h, dict) and "epoch" in h]
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        runs.append(RunSummary(folder, str(manifest.get("kind")), _best_metrics(manifest),
                               history, size, str(manifest.get("saved_at", ""))))
    return runs


def rank_runs(runs: list[RunSummary], metric: str) -> list[RunSummary]:
    """Best first by `metric`; runs without it last, by folder."""
    return sorted(runs, key=lambda r: (math.isnan(r.value(metric)),
                                       -r.value(metric) if not math.isnan(r.value(metric))
                                       else 0.0, str(r.folder)))


def plot_curves(runs: list[RunSummary], metric: str, path: Path, root: Path,
                top: int = 10) -> Path:
    """Validation `metric` per epoch of the `top` runs (already ranked) as a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise NeurankError("plots need matplotlib: `pip install neurank[train]`") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    axes.set_prop_cycle(color=plt.get_cmap("tab20").colors)  # distinct up to 20 curves
    drawn = 0
    for run in runs[:top]:
        points = [(h["epoch"], h[metric]) for h in run.history if metric in h]
        if points:
            epochs, values = zip(*points, strict=True)
            axes.plot(epochs, values, marker="o", label=str(run.folder.relative_to(root)))
            drawn += 1
    if not drawn:
        plt.close(figure)
        raise NeurankError(f"no run under {root} has a per-epoch {metric!r} to plot")
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"validation {metric}")
    axes.set_title(f"Validation {metric} of the best {drawn} runs under {root}")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=120)
    plt.close(figure)
    tmp.replace(path)
    return path
