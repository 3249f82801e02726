"""Trainer callbacks: the jobs around the loop, each in one place and each rank-0 aware.

Hooks run in list order: `on_fit_start`, `on_epoch_end` (after validation; set
`trainer.should_stop` to end training), `on_fit_end`. Callbacks that write or print
(checkpoints, logs) act on rank 0 only; callbacks that decide (early stopping) see the same
broadcast record on every rank, so every rank decides alike. `state_dict` / `load_state_dict`
carry a callback's state through checkpoints, so a resumed run continues where it stopped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from neurank.errors import NeurankError

if TYPE_CHECKING:
    from neurank.training.trainer import Trainer


class Callback:
    """Base: every hook does nothing."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch (after a resume has restored state)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        """After an epoch and its validation; `record` is this epoch's history row."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch, also when stopped early."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


class EarlyStopping(Callback):
    """Tracks the best epoch by `monitor`, keeps its weights, stops after `patience` epochs
    without improvement (None: never stops, still restores the best weights at the end)."""

    def __init__(self, monitor: str, mode: str = "max", patience: int | None = 3) -> None:
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.stale = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def _improved(self, value: float, best: float | None) -> bool:
        if best is None or math.isnan(best):
            return not math.isnan(value)
        return value > best if self.mode == "max" else value < best

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        if not trainer.validated:  # nothing to compare: the latest epoch is the best
            trainer.result.best_epoch = epoch + 1
            return
        if self.monitor not in record:
            raise NeurankError(f"validation returned {sorted(record)}, no {self.monitor!r} to "
                               "monitor")
        value = float(record[self.monitor])
        trainer.improved = self._improved(value, trainer.result.best_metric)
        if trainer.improved:
            trainer.result.best_metric, trainer.result.best_epoch = value, epoch + 1
            self.best_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
            self.stale = 0
        else:
            self.stale += 1
        if self.patience is not None and self.stale >= self.patience:
            trainer.should_stop = True

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"stale": self.stale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stale = int(state.get("stale", 0))


class Checkpointing(Callback):
    """Saves `last/` (with optimizer state, for resume) every epoch and `best/` when the
    monitored metric improved; rank 0 only. Reads `trainer.improved`, so it runs after
    EarlyStopping."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        if trainer.dist.is_main:
            if trainer.improved:
                trainer.save_checkpoint(self.folder / "best", epoch, with_optimizer=False)
            trainer.save_checkpoint(self.folder / "last", epoch, with_optimizer=True)
        trainer.dist.barrier()


class ProgressLog(Callback):
    """One line per epoch (`epoch=3 loss=0.41 ndcg@10=0.62 ...`), rank 0 only."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        if trainer.dist.is_main:
            tqdm.write("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in record.items()))


class TensorBoardLog(Callback):
    """Every number of every epoch to TensorBoard under `folder`, rank 0 only."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if not trainer.dist.is_main:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise NeurankError("tensorboard_dir is set but the `tensorboard` package is not "
                               "installed (pip install tensorboard)") from exc
        self._writer = SummaryWriter(str(self.folder))

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, float]) -> None:
        if self._writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    self._writer.add_scalar(f"epoch/{key}", value, int(record["epoch"]))

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
