import json

import numpy as np
import pytest
import torch

from neurank.config import TrainerConfig
from neurank.errors import CheckpointError, NeurankError
from neurank.training import Trainer, load_checkpoint, save_checkpoint
from neurank.training.schedules import WarmupCosine

X = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
Y = (X @ torch.tensor([1.0, -2.0, 0.5, 3.0]) > 0).float()


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def batches(batch_size=32):
    def epoch_batches(epoch):
        order = np.random.default_rng(epoch).permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            yield X[idx], Y[idx]
    return epoch_batches


def bce(model, batch):
    x, y = batch
    return torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(-1), y)


def accuracy(model):
    return {"acc": float(((model(X).squeeze(-1) > 0).float() == Y).float().mean())}


def config(**overrides):
    return TrainerConfig(**{"epochs": 4, "lr": 0.05, "monitor": "acc", "show_progress": False,
                            "device": "cpu", **overrides})


def test_learns_and_keeps_history_and_best_weights(tmp_path):
    trainer = Trainer(make_model(), config(epochs=6, patience=None), checkpoint_dir=tmp_path,
                      checkpoint_meta=lambda: {"config": {"hidden": 8}},
                      checkpoint_ids={"users": ["u1"]})
    result = trainer.fit(batches(), bce, validate=accuracy, steps_per_epoch=8)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4, 5, 6]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.best_metric == max(r["acc"] for r in result.history) > 0.9
    assert accuracy(trainer.model)["acc"] == result.best_metric  # best weights restored
    best = load_checkpoint(tmp_path / "best", kind="trainer")
    assert best.meta["config"] == {"hidden": 8} and best.ids == {"users": ["u1"]}
    assert best.meta["state"]["epoch"] == result.best_epoch and best.optimizer is None
    assert load_checkpoint(tmp_path / "last").optimizer is not None


def test_early_stopping_with_patience():
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.7, 0.8])
    trainer = Trainer(make_model(), config(epochs=6, patience=2))
    result = trainer.fit(batches(), bce, validate=lambda m: {"acc": next(scores)},
                         steps_per_epoch=8)
    assert len(result.history) == 4 and result.stopped_early and result.best_epoch == 2


@pytest.mark.parametrize("schedule", ["warmup_cosine", "plateau"])
def test_resume_equals_uninterrupted_training(tmp_path, schedule):
    cfg = config(schedule=schedule, warmup_ratio=0.2, patience=None)
    straight = Trainer(make_model(), cfg)
    straight.fit(batches(), bce, validate=accuracy, steps_per_epoch=8)
    first = Trainer(make_model(), cfg.model_copy(update={"max_time_s": 1e-9}),
                    checkpoint_dir=tmp_path)
    first.fit(batches(), bce, validate=accuracy, steps_per_epoch=8)  # stops after epoch 1
    resumed = Trainer(make_model(seed=99), cfg, checkpoint_dir=tmp_path)
    resumed.fit(batches(), bce, validate=accuracy, steps_per_epoch=8, resume=True)
    assert [r["epoch"] for r in resumed.result.history] == [1, 2, 3, 4]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(
        straight.optimizer.param_groups[0]["lr"])


def test_resume_refuses_a_different_config(tmp_path):
    Trainer(make_model(), config(epochs=1), checkpoint_dir=tmp_path).fit(
        batches(), bce, validate=accuracy, steps_per_epoch=8)
    with pytest.raises(NeurankError, match=r"config differs from the checkpoint's in \['epochs'\]"):
        Trainer(make_model(), config(epochs=2), checkpoint_dir=tmp_path).fit(
            batches(), bce, validate=accuracy, steps_per_epoch=8, resume=True)


def test_gradient_accumulation_equals_a_larger_batch():
    big = Trainer(make_model(), config(epochs=1, batch_size=64, patience=None))
    big.fit(lambda e: [(X[:64], Y[:64])], bce, steps_per_epoch=1)
    accumulated = Trainer(make_model(), config(epochs=1, grad_accumulation=2, patience=None))
    accumulated.fit(lambda e: [(X[:32], Y[:32]), (X[32:64], Y[32:64])], bce, steps_per_epoch=2)
    for a, b in zip(big.model.parameters(), accumulated.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_per_module_learning_rates_and_clipping():
    trainer = Trainer(make_model(), config(module_lrs={"0.": 0.5}, grad_clip=0.1))
    groups = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert groups == {"0.": 0.5, "default": 0.05}
    with pytest.raises(NeurankError, match="names no parameters"):
        Trainer(make_model(), config(module_lrs={"encoder.": 0.1}))


def test_warmup_cosine_shape():
    schedule = WarmupCosine(total_steps=100, warmup_steps=10, min_ratio=0.1)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == pytest.approx(1.0)
    assert schedule(10) == pytest.approx(1.0) and schedule(100) == pytest.approx(0.1)
    assert schedule(55) == pytest.approx(0.55)


def test_nan_loss_is_a_clear_error():
    trainer = Trainer(make_model(), config(epochs=1))
    with pytest.raises(NeurankError, match="loss became nan"):
        trainer.fit(lambda e: [(X[:4], Y[:4])], lambda m, b: m(b[0]).sum() * float("nan"),
                    steps_per_epoch=1)


def test_checkpoints_are_verified(tmp_path):
    save_checkpoint(tmp_path / "c", kind="toy", tensors={"w": np.arange(3.0)}, meta={"a": 1})
    assert load_checkpoint(tmp_path / "c").array("w").tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(CheckpointError, match="holds a 'toy' checkpoint"):
        load_checkpoint(tmp_path / "c", kind="gmf")
    with open(tmp_path / "c" / "weights.safetensors", "r+b") as handle:
        handle.seek(-1, 2)
        handle.write(b"\x01")
    with pytest.raises(CheckpointError, match="does not match its sha256"):
        load_checkpoint(tmp_path / "c")
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["format"] == "neurank-checkpoint" and "torch" in manifest["versions"]
    with pytest.raises(CheckpointError, match="not a neurank checkpoint"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_rebuilds_its_module_without_caller_knowledge(tmp_path):
    from neurank.models.ncf import GMF
    from neurank.training import load_module

    model = GMF(num_users=5, num_items=7, factors=4)
    users, items = torch.arange(5).repeat(4), torch.arange(20) % 7
    labels = (users + items % 2 == 0).float()

    def loss(model, batch):
        u, i, y = batch
        return torch.nn.functional.binary_cross_entropy_with_logits(model(u, i), y)

    trainer = Trainer(model, config(epochs=2, patience=None), checkpoint_dir=tmp_path)
    trainer.fit(lambda epoch: [(users, items, labels)], loss)
    rebuilt = load_module(tmp_path / "last")
    assert isinstance(rebuilt, GMF) and rebuilt.init_args == model.init_args
    torch.testing.assert_close(rebuilt(users, items), model(users, items))
    with pytest.raises(CheckpointError, match="does not record how to rebuild"):
        save_checkpoint(tmp_path / "plain", kind="toy", tensors={"w": np.zeros(2)}, meta={})
        load_module(tmp_path / "plain")


def test_callbacks_see_every_epoch_and_can_stop_training():
    from neurank.training import Callback

    class StopAtTwo(Callback):
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, trainer, epoch, record):
            self.epochs.append(record["epoch"])
            trainer.should_stop = epoch == 1

    stopper = StopAtTwo()
    trainer = Trainer(make_model(), config(epochs=6, patience=None), callbacks=[stopper])
    result = trainer.fit(batches(), bce, validate=accuracy, steps_per_epoch=8)
    assert stopper.epochs == [1, 2] and result.stopped_early and len(result.history) == 2


def test_any_batch_shape_reaches_the_loss():
    seen = []

    def loss(model, batch):
        seen.append((type(batch["pairs"]).__name__, len(batch["candidates"])))
        x, y = batch["pairs"]
        return bce(model, (x, y))

    def dict_batches(epoch):
        for start in range(0, 64, 32):
            yield {"pairs": (X[start:start + 32], Y[start:start + 32]),
                   "candidates": [[1, 2, 3]] * 32}

    Trainer(make_model(), config(epochs=1, patience=None)).fit(dict_batches, loss)
    assert seen == [("tuple", 32), ("tuple", 32)]
