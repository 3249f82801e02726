"""Sweeps and the leaderboard: trials logged and checkpointed, pruning stops a trial, the
budget holds, and `runs` ranks checkpoints by their recorded best metric."""

from __future__ import annotations

import json
import time

import pytest

optuna = pytest.importorskip("optuna")

from neurank.finetune.sweep import (  # noqa: E402
    TRIAL_LOG,
    OptunaReport,
    SweepConfig,
    _set_dotted,
    _suggest,
    run_sweep,
)
from neurank.training.runs import find_runs, rank_runs  # noqa: E402

SMALL = {"embeddings": "random", "embedding_dim": 8, "hidden_dim": 8, "output_dim": 8,
         "trainer": {"epochs": 3, "batch_size": 8}}


def _sweep(tmp_path, sample_dir, **changes) -> SweepConfig:
    settings = {"source": sample_dir, "out": tmp_path / "sweep", "trials": 4, "budget_s": 120,
                "settings": SMALL, "space": {"pooling": ["mean", "weighted"],
                                             "trainer.lr": {"low": 1e-3, "high": 3e-2,
                                                            "log": True}}}
    settings.update(changes)
    return SweepConfig.model_validate(settings)


def test_dotted_settings_and_space_kinds():
    settings = {"trainer": {"epochs": 3}}
    _set_dotted(settings, "trainer.lr", 0.1)
    _set_dotted(settings, "pooling", "gru")
    assert settings == {"trainer": {"epochs": 3, "lr": 0.1}, "pooling": "gru"}
    trial = optuna.trial.FixedTrial({"a": "x", "b": 16, "c": 0.5})
    assert _suggest(trial, "a", ["x", "y"]) == "x"
    assert _suggest(trial, "b", {"low": 8, "high": 32, "step": 8}) == 16
    assert _suggest(trial, "c", {"low": 0.1, "high": 1.0}) == 0.5


def test_a_pruned_trial_stops_its_trainer():
    class Trial:
        def __init__(self):
            self.reported = []

        def report(self, value, step):
            self.reported.append((value, step))

        def should_prune(self):
            return len(self.reported) >= 2

    class Trainer:
        should_stop = False

    report, trainer = OptunaReport(Trial(), "mrr@10"), Trainer()
    report.on_epoch_end(trainer, 0, {"mrr@10": 0.2})
    assert not trainer.should_stop
    report.on_epoch_end(trainer, 1, {"mrr@10": 0.1})
    assert trainer.should_stop and report.pruned


def test_sweep_logs_every_trial_and_runs_ranks_the_checkpoints(tmp_path, sample_dir):
    config = _sweep(tmp_path, sample_dir)
    study = run_sweep(config, log=lambda _: None)
    entries = [json.loads(line) for line in (config.out / TRIAL_LOG).read_text().splitlines()]
    assert [e["trial"] for e in entries] == [t.number for t in study.trials]
    complete = [e for e in entries if e["state"] == "complete"]
    assert complete and all((config.out / f"trial-{e['trial']:03d}" / "manifest.json").exists()
                            for e in complete)
    assert all(e["config"]["trainer"]["epochs"] == 3 for e in entries)  # fixed settings kept
    assert all((config.out / "tensorboard" / f"trial-{e['trial']:03d}").is_dir()
               for e in complete)
    ranked = rank_runs(find_runs(config.out), "mrr@10")
    expected = sorted(complete, key=lambda e: (-e["best"]["mrr@10"], e["trial"]))
    assert [r.folder.name for r in ranked] == [f"trial-{e['trial']:03d}" for e in expected]


def test_sweep_stays_within_its_budget(tmp_path, sample_dir):
    config = _sweep(tmp_path, sample_dir, trials=10_000, budget_s=4,
                    settings={**SMALL, "trainer": {"epochs": 50, "batch_size": 8,
                                                   "patience": None}})
    start = time.monotonic()
    study = run_sweep(config, log=lambda _: None)
    assert time.monotonic() - start < 4 + 15  # the last trial is capped by what was left
    assert 1 <= len(study.trials) < 10_000


def test_runs_cli_prints_the_table_and_a_png(tmp_path, sample_dir, neurank):
    config = _sweep(tmp_path, sample_dir, trials=2)
    run_sweep(config, log=lambda _: None)
    (config.out / ".staging-x").mkdir()
    shown = neurank("runs", config.out, "--metric", "mrr@10")
    assert "trial-000" in shown.stdout and "encoder/two-tower" in shown.stdout
    assert (config.out / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = neurank("runs", tmp_path / "nothing", check=False)
    assert missing.returncode == 2 and "not a folder of runs" in missing.stderr
