"""Run by test_saliency_nodes.py under torchrun: a few training steps' bank updates through
the trainer's own functions (process group, node bank, shared update), then each node's
bank is saved as ``<out>/node<GROUP_RANK>.npz``."""

import os
import sys
from pathlib import Path

import numpy as np
import torch.distributed as dist

from dali_regaug import train
from dali_regaug.saliency import shared

N, SIZE, STEPS = 12, 16, 4


def batch(rank: int, world: int, step: int):
    """Rank ``rank``'s samples of ``step`` (its shard, as the pipeline's sharding gives
    it), with maps, views and visible pixels from a seed of (rank, step); the last step is
    shorter on the last rank."""
    rs = np.random.default_rng([rank, step])
    ids = np.arange(rank, N, world)[step % 2::2]
    if step == STEPS - 1 and rank == world - 1:
        ids = ids[:1]
    k = len(ids)
    lo = rs.uniform(0, 0.4, (k, 2))
    crops = np.concatenate([lo, lo + rs.uniform(0.3, 0.6, (k, 2))], 1)
    maps = rs.random((k, 8, 8)).astype(np.float32)
    return ids, maps, crops, rs.integers(0, 2, k), rs.random((k, 8, 8)) > 0.2


def main(out: Path):
    train.setup_distributed("cpu")
    rank, world = dist.get_rank(), dist.get_world_size()
    bank = shared.node_bank(N, SIZE)
    for step in range(STEPS):
        shared.update(bank, *batch(rank, world, step))
    dist.barrier()  # every node has written before any node saves
    if shared.local_rank() == 0:
        np.savez(out / f"node{os.environ['GROUP_RANK']}.npz", **bank.state_dict())
    dist.barrier()  # the attached ranks let go before the creator removes the segment
    bank.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
