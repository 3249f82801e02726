"""The training core: one Trainer, its callbacks, DDP, schedules and checkpoints."""

from neurank.training.callbacks import (
    Callback,
    Checkpointing,
    EarlyStopping,
    ProgressLog,
    TensorBoardLog,
)
from neurank.training.checkpoint import Checkpoint, load_checkpoint, load_module, save_checkpoint
from neurank.training.distributed import DistributedContext
from neurank.training.trainer import Trainer, TrainResult, seed_everything

__all__ = ["Callback", "Checkpoint", "Checkpointing", "DistributedContext", "EarlyStopping",
           "ProgressLog", "TensorBoardLog", "TrainResult", "Trainer", "load_checkpoint",
           "load_module", "save_checkpoint", "seed_everything"]
