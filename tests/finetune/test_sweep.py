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


def _entries(out):
    return [json.loads(line) for line in (out / TRIAL_LOG).read_text().splitlines()]


def test_a_ranker_sweep_checkpoints_rankers_that_runs_ranks(tmp_path, sample_collection,
                                                            sample_dir, neurank):
    from neurank.search.ranker import LearnedRanker

    config = SweepConfig.model_validate({
        "trainer": "ranker", "source": sample_collection.folder, "dataset": sample_dir,
        "out": tmp_path / "ranker-sweep", "trials": 3, "budget_s": 300,
        "settings": {"hidden": 16, "heads": 2, "trainer": {"epochs": 3}},
        "space": {"dropout": {"low": 0.0, "high": 0.3}, "trainer.lr": [1e-3, 1e-2]}})
    study = run_sweep(config, log=lambda _: None)
    assert study.user_attrs["metric"] == "ndcg@10"
    entries = _entries(config.out)
    assert len(entries) == 3 and all(e["config"]["hidden"] == 16 for e in entries)
    complete = [e for e in entries if e["state"] == "complete"]
    assert complete
    for entry in complete:
        folder = config.out / f"trial-{entry['trial']:03d}"
        loaded = LearnedRanker.load(folder)  # a ranker `ranker attach` or store_ranker can use
        assert loaded.config.trainer.lr == entry["params"]["trainer.lr"]
        assert loaded.report["trial"] == entry["trial"]
        assert entry["best"]["ndcg@10"] == loaded.report["validation"]["fused ndcg@10"]
    ranked = rank_runs(find_runs(config.out), "ndcg@10")
    assert [r.folder.name for r in ranked] == [
        f"trial-{e['trial']:03d}" for e in sorted(complete, key=lambda e: (
            -e["best"]["ndcg@10"], e["trial"]))]
    assert all(r.history and "epoch" in r.history[0] for r in ranked)  # curves to plot
    neurank("ranker", "attach", sample_collection.folder, "--from", ranked[0].folder)
    hits = json.loads(neurank("search", sample_collection.folder, "weather", "--mode", "learned",
                              "--json").stdout)["hits"]
    assert hits and all("ranker" in hit["scores"] for hit in hits)
    refused = neurank("ranker", "attach", sample_collection.folder, "--from", tmp_path,
                      check=False)
    assert refused.returncode == 2 and "neither a collection nor a ranker" in refused.stderr


def test_a_finetune_sweep_keeps_only_models_better_than_the_base(tmp_path, tiny_model_dir,
                                                                  scored_pairs):
    config = SweepConfig.model_validate({
        "trainer": "finetune", "source": scored_pairs, "out": tmp_path / "ft-sweep", "trials": 2,
        "budget_s": 600, "settings": {"base": str(tiny_model_dir), "epochs": 3,
                                      "batch_size": 8},
        "space": {"lr": [1e-3, 30.0]}})  # 30: a learning rate that wrecks the model
    study = run_sweep(config, log=lambda _: None)
    entries = _entries(config.out)
    assert study.user_attrs["metric"] == "spearman" and len(entries) == 2
    for entry in entries:
        folder = config.out / f"trial-{entry['trial']:03d}"
        assert entry["state"] in ("complete", "not promoted")
        assert folder.exists() == (entry["state"] == "complete")
        assert "spearman" in entry["best"]
    by_lr = {e["params"]["lr"]: e["state"] for e in entries}  # TPE seed 0 tries both
    assert by_lr == {30.0: "not promoted", 1e-3: "complete"}
    ranked = rank_runs(find_runs(config.out), "spearman")
    assert [r.folder.name for r in ranked] == ["trial-001"]
    assert ranked[0].kind == "encoder/finetuned"


def test_a_finetune_sweep_refuses_to_search_what_is_mined_once(tmp_path, sample_dir):
    from neurank.errors import NeurankError

    config = SweepConfig.model_validate({
        "trainer": "finetune", "source": sample_dir, "out": tmp_path / "s",
        "space": {"negative_margin": [0.0, 0.05]}})
    with pytest.raises(NeurankError, match=r"negative_margin .* once per sweep"):
        run_sweep(config, log=lambda _: None)
