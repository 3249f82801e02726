"""DDP through torchrun: 2 CPU processes (gloo) take the same steps as one process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from neurank.training.distributed import DistributedContext

WORKER = Path(__file__).with_name("ddp_worker.py")


def run(args, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*args, str(WORKER), str(out)], check=True, env=env, timeout=300,
                   capture_output=True)


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    run([sys.executable], tmp_path / "single")
    run([str(torchrun), "--standalone", "--nproc_per_node=2"], tmp_path / "ddp")
    single = load_file(str(tmp_path / "single" / "weights.safetensors"))
    ddp = load_file(str(tmp_path / "ddp" / "weights.safetensors"))
    # Averaging two half-batch means equals the full-batch mean exactly in real arithmetic;
    # float32 sums in another order differ in the last bits, and 32 Adam steps keep that
    # small: 1e-5 is ~100x the observed drift and far below one step's change (~1e-2).
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], atol=1e-5, rtol=1e-4)
    assert (tmp_path / "ddp" / "history.txt").read_text() != ""
    single_history = eval((tmp_path / "single" / "history.txt").read_text())
    ddp_history = eval((tmp_path / "ddp" / "history.txt").read_text())
    for (loss_a, acc_a), (loss_b, acc_b) in zip(single_history, ddp_history, strict=True):
        assert loss_a == pytest.approx(loss_b, abs=1e-5) and acc_a == acc_b
    # each process trained on its half of every global batch
    assert (tmp_path / "single" / "samples.rank0.txt").read_text() == str(96 * 4)
    for rank in (0, 1):
        assert (tmp_path / "ddp" / f"samples.rank{rank}.txt").read_text() == str(48 * 4)
    # only rank 0 wrote checkpoints, and they load
    assert sorted(p.name for p in (tmp_path / "ddp" / "ckpt").iterdir()) == ["best", "last"]


def test_sharding_splits_samples_not_fields():
    ctx = DistributedContext(rank=1, world_size=2)
    batch = {"x": torch.arange(10).reshape(5, 2), "candidates": [[1, 2], [3], [4, 5, 6], [7], [8]],
             "pair": (torch.arange(4), torch.arange(4) * 10)}
    shard = ctx.shard(batch)
    assert shard["x"].tolist() == [[6, 7], [8, 9]]
    assert shard["candidates"] == [[7], [8]]  # the same parts as the tensors
    assert shard["pair"][0].tolist() == [2, 3] and shard["pair"][1].tolist() == [20, 30]
    assert DistributedContext().shard(batch) is batch
