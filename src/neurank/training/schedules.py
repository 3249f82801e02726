"""Learning-rate schedules: constant, linear warmup + cosine decay, reduce-on-plateau."""

from __future__ import annotations

import math

import torch

from neurank.config import TrainerConfig


class WarmupCosine:
    """Multiplier for LambdaLR: linear warmup, then cosine decay to `min_ratio`.

    A class rather than a closure so the scheduler's state_dict stays plain data.
    """

    def __init__(self, total_steps: int, warmup_steps: int, min_ratio: float) -> None:
        self.total_steps = max(total_steps, 1)
        self.warmup_steps = warmup_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1),
                       1.0)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainerConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    """The scheduler named by `config.schedule` (None for constant)."""
    if config.schedule == "warmup_cosine":
        warmup = int(config.warmup_ratio * total_steps)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, WarmupCosine(total_steps, warmup, config.min_lr_ratio))
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=config.monitor_mode, factor=config.plateau_factor,
            patience=config.plateau_patience)
    return None
