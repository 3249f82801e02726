"""Trainer: the one training loop for every torch model in neurank.

The caller supplies batches per epoch, a loss function and (optionally) a validation function;
the Trainer owns the optimiser (AdamW with per-module learning rates), schedule, gradient
clipping and accumulation, AMP on CUDA, early stopping, checkpoints (best/ and last/), resume,
progress bars, a metrics history and optional TensorBoard logging.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from neurank.config import TrainerConfig
from neurank.devices import select_device
from neurank.errors import NeurankError
from neurank.training.checkpoint import load_checkpoint, save_checkpoint
from neurank.training.schedules import make_scheduler

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[torch.nn.Module, Batch], torch.Tensor]
ValidateFn = Callable[[torch.nn.Module], dict[str, float]]
MetaFn = Callable[[], dict[str, Any]]
# settings that may change between a run and its resumption
_RUNTIME_FIELDS = {"max_time_s", "show_progress", "tensorboard_dir", "device", "amp"}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0


def param_groups(model: torch.nn.Module, config: TrainerConfig) -> list[dict[str, Any]]:
    """One group per `module_lrs` prefix (longest prefix wins), the rest at `config.lr`."""
    prefixes = sorted(config.module_lrs, key=len, reverse=True)
    groups: dict[str, list[torch.nn.Parameter]] = {p: [] for p in prefixes}
    rest: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        (groups[prefix] if prefix is not None else rest).append(parameter)
    unused = [p for p, params in groups.items() if not params]
    if unused:
        raise NeurankError(f"module_lrs names no parameters: {unused}")
    out = [{"params": params, "lr": config.module_lrs[p], "name": p} for p, params in groups.items()]
    if rest:
        out.append({"params": rest, "lr": config.lr, "name": "default"})
    return out


class Trainer:
    """Trains `model` under `config`; see the module docstring."""

    def __init__(
        self,
        model: torch.nn.Module,
        config: TrainerConfig | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        checkpoint_meta: MetaFn | None = None,
        checkpoint_ids: dict[str, list[str]] | None = None,
    ) -> None:
        self.config = config or TrainerConfig()
        self.device = torch.device(select_device(self.config.device))
        self.model = model.to(self.device)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.checkpoint_meta = checkpoint_meta or dict
        self.checkpoint_ids = checkpoint_ids
        self.optimizer = torch.optim.AdamW(param_groups(model, self.config),
                                           lr=self.config.lr,
                                           weight_decay=self.config.weight_decay)
        self.scheduler: Any = None
        self.result = TrainResult()
        self._start_epoch = 0
        self._best_state: dict[str, torch.Tensor] | None = None
        self._stale = 0
        use_amp = self.config.amp and self.device.type == "cuda"
        self._amp_dtype = (torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported()
                           else torch.float16 if use_amp else None)
        self._scaler = torch.amp.GradScaler("cuda", enabled=self._amp_dtype == torch.float16)

    def _improved(self, value: float) -> bool:
        best = self.result.best_metric
        if best is None or math.isnan(best):
            return not math.isnan(value)
        return value > best if self.config.monitor_mode == "max" else value < best

    def _to_device(self, batch: Batch) -> Batch:
        return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def _train_epoch(self, epoch: int, batches: Iterable[Batch], loss_fn: LossFn,
                     steps: int | None, writer: Any) -> float:
        self.model.train()
        accumulation = self.config.grad_accumulation
        total, count = 0.0, 0
        progress = tqdm(batches, total=steps, desc=f"epoch {epoch + 1}", leave=False,
                        disable=not self.config.show_progress)
        self.optimizer.zero_grad(set_to_none=True)
        for step, batch in enumerate(progress, start=1):
            with torch.autocast(self.device.type, dtype=self._amp_dtype,
                                enabled=self._amp_dtype is not None):
                loss = loss_fn(self.model, self._to_device(batch))
            if not torch.isfinite(loss):
                raise NeurankError(f"loss became {loss.item()} at epoch {epoch + 1}, step {step}; "
                                   "lower the learning rate or check the inputs for NaN")
            self._scaler.scale(loss / accumulation).backward()
            last_step = steps is not None and step == steps
            if step % accumulation == 0 or last_step:
                self._optimizer_step()
            total += loss.item()
            count += 1
            if count % 50 == 0:
                progress.set_postfix(loss=f"{total / count:.4f}")
                if writer is not None:
                    writer.add_scalar("train/loss", loss.item(), epoch * (steps or 0) + step)
        if count % accumulation:
            self._optimizer_step()
        if count == 0:
            raise NeurankError("the training data produced no batches")
        return total / count

    def _optimizer_step(self) -> None:
        if self.config.grad_clip:
            self._scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self._scaler.step(self.optimizer)
        self._scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None and not isinstance(
            self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau
        ):
            self.scheduler.step()

    def fit(
        self,
        batches: Callable[[int], Iterable[Batch]],
        loss_fn: LossFn,
        *,
        validate: ValidateFn | None = None,
        steps_per_epoch: int | None = None,
        resume: bool = False,
    ) -> TrainResult:
        """Train; `batches(epoch)` yields CPU tensors. The best weights are left in the model."""
        cfg = self.config
        seed_everything(cfg.seed)
        total_steps = cfg.epochs * math.ceil((steps_per_epoch or 1) / cfg.grad_accumulation)
        self.scheduler = make_scheduler(self.optimizer, cfg, total_steps)
        if resume:
            self._resume()
        writer = self._writer()
        start = time.monotonic() - self.result.seconds
        try:
            for epoch in range(self._start_epoch, cfg.epochs):
                seed_everything(cfg.seed + epoch)
                loss = self._train_epoch(epoch, batches(epoch), loss_fn, steps_per_epoch, writer)
                record: dict[str, float] = {"epoch": epoch + 1, "loss": loss,
                                            "lr": self.optimizer.param_groups[-1]["lr"]}
                if validate is not None:
                    self.model.eval()
                    with torch.no_grad():
                        record.update(validate(self.model))
                record["seconds"] = time.monotonic() - start
                self.result.history.append(record)
                self._log(record, writer)
                if self._end_of_epoch(epoch, record, validate is not None):
                    self.result.stopped_early = True
                    break
                if cfg.max_time_s and record["seconds"] > cfg.max_time_s:
                    break
        finally:
            if writer is not None:
                writer.close()
        self.result.seconds = time.monotonic() - start
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        return self.result

    def _end_of_epoch(self, epoch: int, record: dict[str, float], validated: bool) -> bool:
        """Track the best epoch, step plateau schedules, checkpoint; True to stop early."""
        cfg = self.config
        if not validated:
            self.result.best_epoch = epoch + 1
            self._save("last", epoch)
            return False
        if cfg.monitor not in record:
            raise NeurankError(f"validation returned {sorted(record)}, no {cfg.monitor!r} to "
                               "monitor")
        value = float(record[cfg.monitor])
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(value)
        if self._improved(value):
            self.result.best_metric, self.result.best_epoch = value, epoch + 1
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._stale = 0
            self._save("best", epoch)
        else:
            self._stale += 1
        self._save("last", epoch)
        return cfg.patience is not None and self._stale >= cfg.patience

    def _trainer_state(self, epoch: int) -> dict[str, Any]:
        # WarmupCosine keeps plain numbers, so LambdaLR's state_dict stays JSON
        scheduler = self.scheduler.state_dict() if self.scheduler is not None else None
        return {"epoch": epoch + 1, "best_epoch": self.result.best_epoch,
                "best_metric": self.result.best_metric, "stale": self._stale,
                "scheduler": scheduler}

    def _save(self, name: str, epoch: int) -> None:
        if self.checkpoint_dir is None:
            return
        meta = {**self.checkpoint_meta(), "trainer": self.config.model_dump(mode="json"),
                "history": self.result.history, "state": self._trainer_state(epoch)}
        save_checkpoint(self.checkpoint_dir / name, kind="trainer", tensors=self.model.state_dict(),
                        meta=meta, ids=self.checkpoint_ids,
                        optimizer=self.optimizer.state_dict() if name == "last" else None)

    def _resume(self) -> None:
        if self.checkpoint_dir is None or not (self.checkpoint_dir / "last").exists():
            raise NeurankError("nothing to resume: no last/ checkpoint in "
                               f"{self.checkpoint_dir}")
        last = load_checkpoint(self.checkpoint_dir / "last", kind="trainer")
        saved, current = (
            {k: v for k, v in c.items() if k not in _RUNTIME_FIELDS}
            for c in (last.meta["trainer"], self.config.model_dump(mode="json")))
        if saved != current:
            changed = sorted(k for k in current if saved.get(k) != current[k])
            raise NeurankError(f"cannot resume: the trainer config differs from the checkpoint's "
                               f"in {changed}")
        try:
            self.model.load_state_dict(last.tensors)
        except RuntimeError as exc:
            raise NeurankError(f"cannot resume: the checkpoint does not fit the model: {exc}") from exc
        if last.optimizer is None:
            raise NeurankError("cannot resume: last/ holds no optimizer state")
        self.optimizer.load_state_dict(last.optimizer)
        state = last.meta["state"]
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self._start_epoch = state["epoch"]
        self._stale = state["stale"]
        self.result.history = list(last.meta["history"])
        self.result.best_epoch, self.result.best_metric = state["best_epoch"], state["best_metric"]
        self.result.seconds = self.result.history[-1]["seconds"] if self.result.history else 0.0
        best = self.checkpoint_dir / "best"
        if best.exists():
            self._best_state = load_checkpoint(best, kind="trainer").tensors

    def _writer(self) -> Any:
        if not self.config.tensorboard_dir:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise NeurankError("tensorboard_dir is set but the `tensorboard` package is not "
                               "installed (pip install tensorboard)") from exc
        return SummaryWriter(self.config.tensorboard_dir)

    def _log(self, record: dict[str, float], writer: Any) -> None:
        if writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    writer.add_scalar(f"epoch/{key}", value, int(record["epoch"]))
        if self.config.show_progress:
            text = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in record.items())
            tqdm.write(text)
