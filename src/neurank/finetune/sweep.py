"""Hyperparameter sweeps: an Optuna study over a trainer's config within a time budget.

A sweep file names the trainer, its data, fixed settings, and a search space of dotted config
paths. Every trial trains with the sampled settings, reports its validation metric per epoch
(bad trials are pruned by Optuna's median rule), logs to TensorBoard (`out/tensorboard/`) and, when it
completes, a checkpoint under `out/trial-NNN`; each trial's config, state and metrics are
appended to `out/trials.jsonl`. `neurank runs out` then ranks the checkpoints.

    trainer: two-tower
    source: ../shared/data/scifact
    split: train
    out: runs/two-tower-sweep
    trials: 20
    budget_s: 900
    settings: {trainer: {epochs: 8}}
    space:
      pooling: [mean, weighted, gru]             # a list: categorical
      trainer.lr: {low: 1.0e-4, high: 1.0e-2, log: true}
      output_dim: {low: 32, high: 256, step: 32}  # integer bounds: an integer
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from neurank.errors import NeurankError
from neurank.training.callbacks import Callback

TRIAL_LOG = "trials.jsonl"


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trainer: Literal["two-tower"] = "two-tower"
    source: Path
    split: str = "train"
    out: Path
    trials: int = Field(20, ge=1)
    budget_s: float = Field(900.0, gt=0.0, description="no trial starts after this; each "
                                                       "trial's time is capped by what is left")
    metric: str = Field("mrr@10", description="validation metric to maximise")
    seed: int = 0
    settings: dict[str, Any] = Field(default_factory=dict, description="fixed settings")
    space: dict[str, list[Any] | dict[str, Any]] = Field(default_factory=dict)


def _set_dotted(settings: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = settings
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise NeurankError(f"sweep space: {path!r} goes through a non-mapping setting")
    node[leaf] = value


def _suggest(trial, name: str, spec: list[Any] | dict[str, Any]) -> Any:
    if isinstance(spec, list):
        if not spec:
            raise NeurankError(f"sweep space: {name!r} has no choices")
        return trial.suggest_categorical(name, spec)
    try:
        low, high = spec["low"], spec["high"]
    except KeyError:
        raise NeurankError(f"sweep space: {name!r} needs low and high (or a list of "
                           "choices)") from None
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(name, low, high, step=spec.get("step", 1),
                                 log=bool(spec.get("log", False)))
    return trial.suggest_float(name, float(low), float(high), log=bool(spec.get("log", False)))


class OptunaReport(Callback):
    """Reports the monitored metric to the trial each epoch; stops a trial Optuna prunes."""

    def __init__(self, trial, metric: str) -> None:
        self.trial, self.metric, self.pruned = trial, metric, False

    def on_epoch_end(self, trainer, epoch: int, record: dict[str, float]) -> None:
        if self.metric not in record:
            raise NeurankError(f"the sweep's metric {self.metric!r} is not among the validation "
                               f"metrics {sorted(record)}")
        self.trial.report(float(record[self.metric]), epoch)
        if self.trial.should_prune():
            self.pruned = True
            trainer.should_stop = True


def run_sweep(config: SweepConfig, log: Callable[[str], None] = print):
    """Run the study; returns it (best trial, all trials). Needs `optuna` (neurank[train])."""
    try:
        import optuna
    except ImportError:
        raise NeurankError("sweeps need `pip install neurank[train]` (optuna)") from None
    from neurank.config import validate_settings
    from neurank.finetune.two_tower import (
        TwoTowerConfig,
        read_two_tower_source,
        save_two_tower,
        train_two_tower,
    )

    data = read_two_tower_source(config.source, config.split)
    config.out.mkdir(parents=True, exist_ok=True)
    trial_log = config.out / TRIAL_LOG
    deadline = time.monotonic() + config.budget_s
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial) -> float:
        settings = copy.deepcopy(config.settings)
        for name, spec in config.space.items():
            _set_dotted(settings, name, _suggest(trial, name, spec))
        folder = config.out / f"trial-{trial.number:03d}"
        trainer = settings.setdefault("trainer", {})
        trainer.update(seed=config.seed, show_progress=False,
                       tensorboard_dir=str(config.out / "tensorboard" / folder.name),
                       max_time_s=max(1.0, deadline - time.monotonic()))
        model_config = validate_settings(settings, TwoTowerConfig, f"trial {trial.number}")
        report = OptunaReport(trial, config.metric)
        model, vocabulary, result = train_two_tower(data, model_config, callbacks=[report],
                                                    log=lambda _: None)
        entry = {"trial": trial.number, "params": trial.params,
                 "config": model_config.model_dump(mode="json"), "best": result.best,
                 "history": result.history, "seconds": result.seconds}
        if report.pruned:
            entry["state"] = "pruned"
        else:
            save_two_tower(model, vocabulary, folder, model_config, result,
                           {"source": str(config.source), "split": config.split, "sweep":
                            str(config.out), "trial": trial.number, "params": trial.params,
                            "validation_queries": [q for q, _, _ in data.validation_queries]})
            entry.update(state="complete", checkpoint=str(folder))
        with trial_log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        value = result.best.get(config.metric, 0.0)
        log(f"trial {trial.number}: {entry['state']} {config.metric}={value:.4f} "
            f"{trial.params} ({result.seconds:.0f} s)")
        if report.pruned:
            raise optuna.TrialPruned()
        return float(value)

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    study.optimize(objective, n_trials=config.trials, timeout=config.budget_s)
    return study
