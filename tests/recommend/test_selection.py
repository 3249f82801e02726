import pytest

from neurank.config import TrainerConfig
from neurank.errors import NeurankError
from neurank.recommend.selection import select_model


def test_auto_keeps_the_best_validation_trial_and_records_all(interactions):
    grids = {"pop": [{}], "ease": [{"l2": 1.0}, {"l2": 10.0}], "itemknn": [{"neighbors": 5}]}
    selection = select_model(interactions, "auto", grids=grids, log=lambda *a: None)
    assert [t.family for t in selection.trials] == ["pop", "ease", "ease", "itemknn"]
    best = max(selection.trials, key=lambda t: t.metrics["ndcg@10"])
    assert selection.model.family == best.family
    assert selection.model.config.model_dump(mode="json") == best.config
    assert len(selection.model.seen.data) == len(interactions)  # refitted on the whole train set
    recorded = selection.model.info["selection"]
    assert len(recorded["trials"]) == 4 and "latest train interaction" in recorded["validation"]


def test_ncf_refit_uses_the_epochs_validation_chose(interactions):
    trainer = TrainerConfig(epochs=4, batch_size=64, lr=0.01, patience=None, show_progress=False,
                            device="cpu")
    grids = {"gmf": [{"factors": 4, "trainer": trainer.model_dump()}]}
    selection = select_model(interactions, "gmf", grids=grids, log=lambda *a: None)
    chosen = selection.model.config.stage_epochs
    assert set(chosen) == {"GMF"} and 1 <= chosen["GMF"] <= 4
    assert [h["epoch"] for h in selection.model.history] == list(range(1, chosen["GMF"] + 1))


def test_unknown_family_is_refused(interactions):
    with pytest.raises(NeurankError, match="unknown model 'svd'"):
        select_model(interactions, "svd")
