"""Saliency-guided training over several nodes: with ``torchrun --nnodes 2`` (two node
ranks on this machine, gloo, c10d rendezvous on 127.0.0.1) every node's bank receives every
rank's updates, and ends equal to one bank fed all of them."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nodes_bank import N, SIZE, STEPS, batch
from dali_regaug.saliency import SaliencyBank

SCRIPT = Path(__file__).with_name("nodes_bank.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(nodes: int, per_node: int, out: Path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SCRIPT.parent), str(Path.cwd())]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}",
           f"--nproc-per-node={per_node}", "--rdzv-backend=c10d",
           f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=bank", "--max-restarts=0",
           str(SCRIPT), str(out)]
    runs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(nodes)]
    logs = [r.communicate(timeout=240)[0] for r in runs]
    assert all(r.returncode == 0 for r in runs), "\n".join(logs)[-6000:]


def single_node_bank(world: int) -> dict:
    """One bank fed every rank's batch of each step, in rank order."""
    with SaliencyBank(N, SIZE) as bank:
        for step in range(STEPS):
            parts = [batch(rank, world, step) for rank in range(world)]
            bank.update(*(np.concatenate(p) for p in zip(*parts)))
        return bank.state_dict()


@pytest.mark.parametrize("nodes, per_node", [(2, 1), (1, 2)])
def test_every_nodes_bank_ends_equal_to_one_bank_fed_every_update(tmp_path, nodes, per_node):
    torchrun(nodes, per_node, tmp_path)
    expected = single_node_bank(nodes * per_node)
    assert (expected["version"] > 0).all()
    for node in range(nodes):
        got = np.load(tmp_path / f"node{node}.npz")
        np.testing.assert_array_equal(got["version"], expected["version"])
        np.testing.assert_array_equal(got["maps"], expected["maps"])
