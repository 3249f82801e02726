"""Hyperparameter sweeps: an Optuna study over a trainer's config within a time budget.

A sweep file names the trainer, its data, fixed settings, and a search space of dotted config
paths. Every trial trains with the sampled settings and reports its validation metric (per epoch
for the Trainer-driven two-tower and neural ranker, where Optuna's median rule prunes bad
trials; once at the end for the fine-tuner, whose loop is sentence-transformers'), logs to
TensorBoard (`out/tensorboard/`) and, when it completes, a checkpoint under `out/trial-NNN`;
each trial's config, state and metrics are appended to `out/trials.jsonl`. `neurank runs out`
then ranks the checkpoints.

    trainer: two-tower                           # or ranker (source: a collection, dataset:
    source: ../shared/data/scifact               #   its BEIR qrels), or finetune (source: BEIR
    split: train                                 #   folder or pairs file)
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from neurank.errors import NeurankError
from neurank.training.callbacks import Callback

TRIAL_LOG = "trials.jsonl"


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trainer: Literal["two-tower", "ranker", "finetune"] = "two-tower"
    source: Path = Field(description="two-tower: BEIR folder or corpus; ranker: a collection; "
                                     "finetune: BEIR folder or pairs file")
    dataset: Path | None = Field(None, description="ranker: the BEIR folder of its qrels")
    split: str = "train"
    out: Path
    trials: int = Field(20, ge=1)
    budget_s: float = Field(900.0, gt=0.0, description="no trial starts after this; each "
                                                       "trial's time is capped by what is left")
    metric: str | None = Field(None, description="validation metric to maximise (default: "
                                                 "mrr@10 two-tower, ndcg@10 ranker, the "
                                                 "fine-tuner's gate metric)")
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
            if trainer is not None:  # None: a single report after a run (the fine-tuner)
                trainer.should_stop = True


@dataclass
class TrialResult:
    """What one trial trained: its best validation figures, history, time, and how to save it
    given a folder and what to record about the trial (sweep, number, params); `save` is None
    when it is not to be kept (a fine-tuned model worse than its base)."""

    best: dict[str, float]
    history: list[dict[str, Any]]
    seconds: float
    save: Callable[[Path, dict[str, Any]], Any] | None
    config: dict[str, Any] = field(default_factory=dict)


TrialFn = Callable[[dict[str, Any], list[Callback]], TrialResult]


def _two_tower(config: SweepConfig) -> tuple[str, TrialFn]:
    from neurank.config import validate_settings
    from neurank.finetune.two_tower import (
        TwoTowerConfig,
        read_two_tower_source,
        save_two_tower,
        train_two_tower,
    )

    data = read_two_tower_source(config.source, config.split)
    held_out = [q for q, _, _ in data.validation_queries]

    def trial(settings: dict[str, Any], callbacks: list[Callback]) -> TrialResult:
        model_config = validate_settings(settings, TwoTowerConfig, "trial settings")
        model, vocabulary, result = train_two_tower(data, model_config, callbacks=callbacks,
                                                    log=lambda _: None)
        record = {"source": str(config.source), "split": config.split,
                  "validation_queries": held_out}
        return TrialResult(result.best, result.history, result.seconds, lambda folder, about: (
            save_two_tower(model, vocabulary, folder, model_config, result,
                           {**record, **about})), model_config.model_dump(mode="json"))
    return "mrr@10", trial


def _ranker(config: SweepConfig) -> tuple[str, TrialFn]:
    from neurank.config import RankerConfig, validate_settings
    from neurank.data import read_beir
    from neurank.index import Collection
    from neurank.search import SearchPipeline
    from neurank.search.ranker_training import VALIDATION_METRIC, train_ranker

    if config.dataset is None:
        raise NeurankError("a ranker sweep needs `dataset`: the BEIR folder of the collection's "
                           "qrels (source is the collection)")
    pipeline = SearchPipeline(Collection.load(config.source))
    data = read_beir(config.dataset, config.split,
                     doc_ids=set(pipeline.collection.doc_ids()))

    def trial(settings: dict[str, Any], callbacks: list[Callback]) -> TrialResult:
        ranker_config = validate_settings(settings, RankerConfig, "trial settings")
        trained = train_ranker(pipeline, data, ranker_config, callbacks=callbacks,
                               show_progress=False)
        ranker = trained.ranker

        def save(folder: Path, about: dict[str, Any]) -> None:
            ranker.report.update(about)
            ranker.save(folder)
        return TrialResult(ranker.report["best"], trained.history, trained.seconds, save,
                           ranker_config.model_dump(mode="json"))
    return VALIDATION_METRIC, trial


def _finetune(config: SweepConfig) -> tuple[str, TrialFn]:
    from neurank.config import validate_settings
    from neurank.finetune.data import read_training_data
    from neurank.finetune.train import FinetuneConfig, finetune, save_finetuned

    if "negative_margin" in config.space:
        raise NeurankError("sweep space: negative_margin is applied when the negatives are "
                           "mined, once per sweep: set it under settings")
    source = {"dataset": config.source} if config.source.is_dir() else {"pairs": config.source}
    data = read_training_data(split=config.split, log=lambda _: None,
                              negative_margin=float(config.settings.get("negative_margin", 0.0)),
                              **source)

    def trial(settings: dict[str, Any], callbacks: list[Callback]) -> TrialResult:
        tune_config = validate_settings(settings, FinetuneConfig, "trial settings")
        model, result = finetune(tune_config, data.pairs, queries=data.queries,
                                 log=lambda _: None)
        for callback in callbacks:  # one report, at the end: no pruning inside a run
            callback.on_epoch_end(None, 0, result.tuned_metrics)
        result.promoted = result.improved
        record = data.record_for(tune_config.validation_fraction, tune_config.seed)
        keep = (lambda folder, about: save_finetuned(model, folder, tune_config, result,
                                                     {**record, **about})
                ) if result.improved else None
        history = [{"phase": h["phase"], **h["validation"]} for h in result.history]
        return TrialResult(result.tuned_metrics, history, result.seconds, keep,
                           tune_config.model_dump(mode="json"))
    return "ndcg@10" if data.queries is not None else "spearman", trial


TARGETS: dict[str, Callable[[SweepConfig], tuple[str, TrialFn]]] = {
    "two-tower": _two_tower, "ranker": _ranker, "finetune": _finetune}


def run_sweep(config: SweepConfig, log: Callable[[str], None] = print):
    """Run the study; returns it (best trial, all trials). Needs `optuna` (neurank[train])."""
    try:
        import optuna
    except ImportError:
        raise NeurankError("sweeps need `pip install neurank[train]` (optuna)") from None

    default_metric, train_trial = TARGETS[config.trainer](config)
    metric = config.metric or default_metric
    config.out.mkdir(parents=True, exist_ok=True)
    trial_log = config.out / TRIAL_LOG
    deadline = time.monotonic() + config.budget_s
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial) -> float:
        settings = copy.deepcopy(config.settings)
        for name, spec in config.space.items():
            _set_dotted(settings, name, _suggest(trial, name, spec))
        folder = config.out / f"trial-{trial.number:03d}"
        if config.trainer != "finetune":
            settings.setdefault("trainer", {}).update(
                seed=config.seed, show_progress=False,
                tensorboard_dir=str(config.out / "tensorboard" / folder.name),
                max_time_s=max(1.0, deadline - time.monotonic()))
        report = OptunaReport(trial, metric)
        result = train_trial(settings, [report])
        entry = {"trial": trial.number, "params": trial.params, "config": result.config,
                 "best": result.best, "history": result.history, "seconds": result.seconds}
        if report.pruned:
            entry["state"] = "pruned"
        elif result.save is None:
            entry["state"] = "not promoted"  # the fine-tuner's gate: not better than the base
        else:
            result.save(folder, {"sweep": str(config.out), "trial": trial.number,
                                 "params": trial.params})
            entry.update(state="complete", checkpoint=str(folder))
        with trial_log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        value = result.best.get(metric, 0.0)
        log(f"trial {trial.number}: {entry['state']} {metric}={value:.4f} "
            f"{trial.params} ({result.seconds:.0f} s)")
        if report.pruned:
            raise optuna.TrialPruned()
        return float(value)

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    study.optimize(objective, n_trials=config.trials, timeout=config.budget_s)
    study.set_user_attr("metric", metric)
    return study
