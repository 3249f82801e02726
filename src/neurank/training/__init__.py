"""The training core: one Trainer, schedules, device selection, checkpoints."""

from neurank.devices import select_device
from neurank.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from neurank.training.trainer import Trainer, TrainResult, seed_everything

__all__ = ["Checkpoint", "TrainResult", "Trainer", "load_checkpoint",
           "save_checkpoint", "seed_everything", "select_device"]
