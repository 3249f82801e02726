"""Trainer: the one training loop for every torch model in neurank.

The caller supplies batches per epoch (any shape: tensors, tuples, dicts, lists of candidate
lists), a loss function and (optionally) a validation function; the Trainer owns the
optimiser (AdamW with per-module learning rates), schedule, gradient clipping and
accumulation, AMP on CUDA and data-parallel training under `torchrun` (see
`training/distributed.py`). The jobs around the loop are callbacks (`training/callbacks.py`):
early stopping with best-weight restore, checkpoints (best/ and last/, resumable), the epoch
log and TensorBoard; the config turns the usual ones on, and `callbacks=` adds more.
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
from neurank.models.registry import module_spec
from neurank.training.callbacks import (
    Callback,
    Checkpointing,
    EarlyStopping,
    ProgressLog,
    TensorBoardLog,
)
from neurank.training.checkpoint import load_checkpoint, save_checkpoint
from neurank.training.distributed import DistributedContext
from neurank.training.schedules import make_scheduler

Batch = Any
LossFn = Callable[[torch.nn.Module, Batch], torch.Tensor]
ValidateFn = Callable[[torch.nn.Module], dict[str, float]]
MetaFn = Callable[[], dict[str, Any]]
# settings that may change between a run and its resumption
_RUNTIME_FIELDS = {"max_time_s", "show_progress", "tensorboard_dir", "device", "amp"}


def move_to(batch: Batch, device: torch.device) -> Batch:
    """`batch` with every tensor inside it (tuples, lists, dicts, nested) on `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(move_to(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    return batch


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
        callbacks: list[Callback] | None = None,
    ) -> None:
        self.config = config or TrainerConfig()
        self.dist = DistributedContext.from_environment()
        self.device = torch.device(self.dist.device(select_device(self.config.device)))
        self.model = model.to(self.device)
        self.trained_model: torch.nn.Module = self.model
        if self.dist.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.trained_model = torch.nn.parallel.DistributedDataParallel(self.model,
                                                                           device_ids=ids)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.checkpoint_meta = checkpoint_meta or dict
        self.checkpoint_ids = checkpoint_ids
        self.optimizer = torch.optim.AdamW(param_groups(model, self.config),
                                           lr=self.config.lr,
                                           weight_decay=self.config.weight_decay)
        self.scheduler: Any = None
        self.result = TrainResult()
        self.should_stop = False
        self.improved = False
        self.validated = False
        self._start_epoch = 0
        self.callbacks = self._default_callbacks() + list(callbacks or [])
        use_amp = self.config.amp and self.device.type == "cuda"
        self._amp_dtype = (torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported()
                           else torch.float16 if use_amp else None)
        self._scaler = torch.amp.GradScaler("cuda", enabled=self._amp_dtype == torch.float16)

    def _default_callbacks(self) -> list[Callback]:
        cfg = self.config
        out: list[Callback] = [EarlyStopping(cfg.monitor, cfg.monitor_mode, cfg.patience)]
        if self.checkpoint_dir is not None:
            out.append(Checkpointing(self.checkpoint_dir))
        if cfg.show_progress:
            out.append(ProgressLog())
        if cfg.tensorboard_dir:
            out.append(TensorBoardLog(cfg.tensorboard_dir))
        return out

    def _train_epoch(self, epoch: int, batches: Iterable[Batch], loss_fn: LossFn,
                     steps: int | None) -> float:
        self.model.train()
        accumulation = self.config.grad_accumulation
        total, count = 0.0, 0
        progress = tqdm(batches, total=steps, desc=f"epoch {epoch + 1}", leave=False,
                        disable=not (self.config.show_progress and self.dist.is_main))
        self.optimizer.zero_grad(set_to_none=True)
        for step, batch in enumerate(progress, start=1):
            local = move_to(self.dist.shard(batch), self.device)
            with torch.autocast(self.device.type, dtype=self._amp_dtype,
                                enabled=self._amp_dtype is not None):
                loss = loss_fn(self.trained_model, local)
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
        if count % accumulation:
            self._optimizer_step()
        if count == 0:
            raise NeurankError("the training data produced no batches")
        return self.dist.mean(total / count)

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

    def _validate(self, validate: ValidateFn) -> dict[str, float]:
        """Rank 0 validates; every rank gets its numbers, so every rank decides alike."""
        record: dict[str, float] = {}
        if self.dist.is_main:
            self.model.eval()
            with torch.no_grad():
                record = dict(validate(self.model))
        return self.dist.from_main(record)

    def fit(
        self,
        batches: Callable[[int], Iterable[Batch]],
        loss_fn: LossFn,
        *,
        validate: ValidateFn | None = None,
        steps_per_epoch: int | None = None,
        resume: bool = False,
    ) -> TrainResult:
        """Train; `batches(epoch)` yields global batches on the CPU (each rank takes its shard).

        The best weights (by `config.monitor`) are left in the model.
        """
        cfg = self.config
        self.validated = validate is not None
        seed_everything(cfg.seed)
        total_steps = cfg.epochs * math.ceil((steps_per_epoch or 1) / cfg.grad_accumulation)
        self.scheduler = make_scheduler(self.optimizer, cfg, total_steps)
        if resume:
            self._resume()
        for callback in self.callbacks:
            callback.on_fit_start(self)
        start = time.monotonic() - self.result.seconds
        try:
            for epoch in range(self._start_epoch, cfg.epochs):
                seed_everything(cfg.seed + epoch)
                loss = self._train_epoch(epoch, batches(epoch), loss_fn, steps_per_epoch)
                record: dict[str, float] = {"epoch": epoch + 1, "loss": loss,
                                            "lr": self.optimizer.param_groups[-1]["lr"]}
                if validate is not None:
                    record.update(self._validate(validate))
                record["seconds"] = time.monotonic() - start
                self.result.history.append(record)
                self._end_of_epoch(epoch, record)
                if self.should_stop:
                    self.result.stopped_early = True
                    break
                if cfg.max_time_s and record["seconds"] > cfg.max_time_s:
                    break
        finally:
            for callback in self.callbacks:
                callback.on_fit_end(self)
        self.result.seconds = time.monotonic() - start
        return self.result

    def _end_of_epoch(self, epoch: int, record: dict[str, float]) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and (
            self.validated
        ):
            self.scheduler.step(float(record[self.config.monitor]))
        self.improved = False
        for callback in self.callbacks:
            callback.on_epoch_end(self, epoch, record)

    # ------------------------------------------------------------------ checkpoints
    def _trainer_state(self, epoch: int) -> dict[str, Any]:
        # WarmupCosine keeps plain numbers, so LambdaLR's state_dict stays JSON
        scheduler = self.scheduler.state_dict() if self.scheduler is not None else None
        state: dict[str, Any] = {"epoch": epoch + 1, "best_epoch": self.result.best_epoch,
                                 "best_metric": self.result.best_metric, "scheduler": scheduler}
        for callback in self.callbacks:
            state.update(callback.state_dict())
        return state

    def save_checkpoint(self, folder: Path, epoch: int, *, with_optimizer: bool) -> None:
        """Weights, config, history and state; the module's rebuild recipe when it has one."""
        meta = {**self.checkpoint_meta(), "trainer": self.config.model_dump(mode="json"),
                "history": self.result.history, "state": self._trainer_state(epoch)}
        spec = module_spec(self.model)
        if spec is not None:
            meta["module"] = spec
        save_checkpoint(folder, kind="trainer", tensors=self.model.state_dict(), meta=meta,
                        ids=self.checkpoint_ids,
                        optimizer=self.optimizer.state_dict() if with_optimizer else None)

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
        for callback in self.callbacks:
            callback.load_state_dict(state)
        self.result.history = list(last.meta["history"])
        self.result.best_epoch, self.result.best_metric = state["best_epoch"], state["best_metric"]
        self.result.seconds = self.result.history[-1]["seconds"] if self.result.history else 0.0
        best = self.checkpoint_dir / "best"
        if best.exists():
            best_state = load_checkpoint(best, kind="trainer").tensors
            for callback in self.callbacks:
                if isinstance(callback, EarlyStopping):
                    callback.best_state = best_state
