"""Data-parallel training through `torchrun`: gloo on CPU, NCCL on CUDA, nothing home-made.

    torchrun --standalone --nproc_per_node=2 train.py

Every process builds the same global batches (same seed); each trains on its own shard of
each batch and DDP averages the gradients, so N processes take the same steps as one process
over the whole batch. Only rank 0 validates, saves and logs; its decisions are broadcast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a `torchrun` job (world_size 1 when run plainly)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> DistributedContext:
        """Join the process group that `torchrun` describes in the environment, if any."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size(),
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")))

    def device(self, preferred: str) -> str:
        """`preferred`, pinned to this process's GPU when several processes share a machine."""
        if self.active and preferred == "cuda":
            torch.cuda.set_device(self.local_rank)
            return f"cuda:{self.local_rank}"
        return preferred

    def shard(self, batch: Any) -> Any:
        """This rank's part of a global batch.

        Tuples and dicts are containers of fields (each field is sharded); tensors, arrays and
        lists are sample-major and split into `world_size` contiguous parts along their first
        axis, so a batch of candidate lists is split by query, not inside a list.
        """
        if not self.active:
            return batch
        if isinstance(batch, tuple):
            return tuple(self.shard(field) for field in batch)
        if isinstance(batch, dict):
            return {key: self.shard(field) for key, field in batch.items()}
        if isinstance(batch, torch.Tensor):
            return batch.tensor_split(self.world_size)[self.rank]
        if isinstance(batch, np.ndarray | list):
            # the same parts as tensor_split: the first len % world_size get one extra sample
            sizes = [len(batch) // self.world_size + (r < len(batch) % self.world_size)
                     for r in range(self.world_size)]
            start = sum(sizes[: self.rank])
            return batch[start:start + sizes[self.rank]]
        return batch

    def mean(self, value: float) -> float:
        """The mean of `value` over all processes."""
        if not self.active:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def from_main(self, value: Any) -> Any:
        """Rank 0's `value`, on every process (a validation record, a stop decision)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier()
