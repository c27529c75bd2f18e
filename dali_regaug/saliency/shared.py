"""One bank per node, the same maps on every node: over several nodes, each training step's
bank updates are all-gathered over the training's process group (NCCL on GPUs, gloo on
CPUs), and one process per node (its local rank 0) writes all of them into the node's
bank, which the node's ranks and pipelines share by name. On one node there is nothing to
exchange: each rank writes its own samples into the shared bank.

An update travels on the bank's grid (:meth:`SaliencyBank.prepare`): per sample an int64
id and two ``S x S`` float32 grids (the map's area averages and the covered fractions),
2,056 bytes at ``S = 16``, in rank order, so that every node blends the same updates in the
same order and the banks stay equal, bit for bit, to one bank fed every rank's updates.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from dali_regaug.saliency.bank import SaliencyBank, Update


def one_node() -> bool:
    """Whether the run is one node (``LOCAL_WORLD_SIZE``, as torchrun sets it, equals the
    world; without it, one node is assumed)."""
    world = dist.get_world_size()
    return int(os.environ.get("LOCAL_WORLD_SIZE", world)) == world


def local_rank() -> int:
    """This process's rank on its node: ``LOCAL_RANK`` (torchrun sets it), else its global
    rank on a one-node run (a launcher such as ``torch.multiprocessing.spawn``)."""
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if not (dist.is_available() and dist.is_initialized()):
        return 0
    if one_node():
        return dist.get_rank()
    raise RuntimeError("a multi-node run needs LOCAL_RANK (torchrun sets it)")


def node_bank(n: int, size: int) -> SaliencyBank:
    """This node's bank: created by the node's local rank 0 and attached by name on its
    other ranks (torchrun numbers a node's ranks contiguously: its local rank 0 is global
    rank ``rank - LOCAL_RANK``)."""
    rank, local = dist.get_rank(), local_rank()
    bank = SaliencyBank(n, size) if local == 0 else None
    names = [None] * dist.get_world_size()
    dist.all_gather_object(names, bank.name if bank is not None else None)
    if bank is not None:
        return bank
    name = names[rank - local]
    if name is None:
        raise RuntimeError(f"rank {rank} (local rank {local}) found no bank at global rank "
                           f"{rank - local}: launch with torchrun, whose ranks of a node are "
                           f"contiguous")
    return SaliencyBank.attach(name)


def gather(update: Update) -> Update:
    """Every rank's ``update``, concatenated in rank order (the last batch of an epoch may
    be shorter on some ranks)."""
    device = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")
    world = dist.get_world_size()
    count = torch.tensor([len(update.ids)], device=device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    counts = [int(c) for c in counts]
    width = max(counts)
    size = update.value.shape[1:]
    ids = torch.zeros(width, dtype=torch.int64, device=device)
    grids = torch.zeros((width, 2, *size), dtype=torch.float32, device=device)
    ids[:len(update.ids)] = torch.from_numpy(update.ids)
    grids[:len(update.ids)] = torch.from_numpy(np.stack([update.value, update.covered], 1))
    all_ids, all_grids = [torch.empty_like(ids) for _ in range(world)], \
        [torch.empty_like(grids) for _ in range(world)]
    dist.all_gather(all_ids, ids)
    dist.all_gather(all_grids, grids)
    all_ids = torch.cat([t[:k] for t, k in zip(all_ids, counts)]).cpu().numpy()
    all_grids = torch.cat([t[:k] for t, k in zip(all_grids, counts)]).cpu().numpy()
    return Update(all_ids, all_grids[:, 0], all_grids[:, 1])


def update(bank: SaliencyBank, sample_ids, maps, crops, flips, visible=None):
    """:meth:`SaliencyBank.update` for training: over several nodes, every rank's update of
    this step, written into each node's bank by the node's local rank 0; on one node, each
    rank's own update (all ranks share the one bank)."""
    if not (dist.is_available() and dist.is_initialized()) or one_node():
        # one node: its ranks share the one bank, each writes its own samples
        return bank.update(sample_ids, maps, crops, flips, visible)
    everyone = gather(bank.prepare(sample_ids, maps, crops, flips, visible))
    if local_rank() == 0:
        bank.apply(everyone)
