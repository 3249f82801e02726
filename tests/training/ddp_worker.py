"""Trains a small model with the Trainer; run plainly or under torchrun (see test_distributed)."""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from neurank.config import TrainerConfig
from neurank.training import Trainer

out = Path(sys.argv[1])
torch.manual_seed(0)
X = torch.randn(96, 6)
Y = (X @ torch.linspace(-1, 1, 6) > 0).float()
model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))


def batches(epoch):
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(epoch))
    for start in range(0, len(X), 12):  # global batch 12: 6 per process under 2 processes
        idx = order[start:start + 12]
        yield {"x": X[idx], "y": Y[idx]}


seen = [0]


def loss_fn(model, batch):
    seen[0] += len(batch["y"])
    logits = model(batch["x"]).squeeze(-1)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["y"])


def accuracy(model):
    return {"acc": float(((model(X).squeeze(-1) > 0).float() == Y).float().mean())}


config = TrainerConfig(epochs=4, lr=0.02, monitor="acc", patience=None, show_progress=False,
                       device="cpu")
trainer = Trainer(model, config, checkpoint_dir=out / "ckpt")
result = trainer.fit(batches, loss_fn, validate=accuracy, steps_per_epoch=8)
(out / f"samples.rank{trainer.dist.rank}.txt").write_text(str(seen[0]))
if trainer.dist.is_main:
    save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()},
              str(out / "weights.safetensors"))
    (out / "history.txt").write_text(repr([(r["loss"], r["acc"]) for r in result.history]))
