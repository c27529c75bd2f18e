"""Reproducibility: seeds, and sample_ids that make a sample's augmentation independent of
batch size, shuffling and sharding; resumable state."""

import numpy as np

from dali_regaug.ops.erasing import RandomErasing
from dali_regaug.ops.grid_mask import GridMask


def make(seed):
    return GridMask(d=(8, 24), rotate=30, unit_prob=0.7, fill="random", seed=seed)


def images_for(ids):
    return [np.full((40, 40, 3), i, np.float32) for i in ids]


def run(op, ids, batch):
    """Outputs by id, feeding ``ids`` in batches of ``batch``."""
    out = {}
    for s in range(0, len(ids), batch):
        chunk = ids[s:s + batch]
        p = op.draw(np.array([(40, 40)] * len(chunk)), chunk)
        for i, x in zip(chunk, op.apply(images_for(chunk), p)):
            out[int(i)] = x
    return out


def test_same_seed_same_output_different_seed_different_output():
    hw = np.array([(40, 40)] * 8)
    a, b, c = make(5), make(5), make(6)
    xa = a.apply(images_for(range(8)), a.draw(hw))
    xb = b.apply(images_for(range(8)), b.draw(hw))
    xc = c.apply(images_for(range(8)), c.draw(hw))
    assert all(np.array_equal(x, y) for x, y in zip(xa, xb))
    assert not all(np.array_equal(x, y) for x, y in zip(xa, xc))


def test_sample_ids_make_output_independent_of_batch_size_order_and_shards():
    ids = np.arange(64)
    ref = run(make(7), ids, 64)
    for batch in (1, 7, 32):
        got = run(make(7), np.random.default_rng(batch).permutation(ids), batch)
        assert all(np.array_equal(ref[i], got[i]) for i in ids)
    shard0, shard1 = make(7), make(7)  # two ranks, each with its own operator
    got = {**run(shard0, ids[0::2], 8), **run(shard1, ids[1::2], 8)}
    assert all(np.array_equal(ref[i], got[i]) for i in ids)


def test_each_visit_of_an_id_gets_new_parameters():
    op = make(3)
    first = op.draw(np.array([(40, 40)] * 2), np.array([4, 4]))
    second = op.draw(np.array([(40, 40)]), np.array([4]))
    assert len({int(first["key"][0]), int(first["key"][1]), int(second["key"][0])}) == 3


def test_state_dict_resumes_the_same_stream():
    hw = np.array([(40, 40)] * 4)
    op = RandomErasing(prob=1.0, seed=11)
    op.draw(hw, np.arange(4))
    state = op.state_dict()
    expected = [op.draw(hw), op.draw(hw, np.arange(4))]
    resumed = RandomErasing(prob=1.0, seed=99)
    resumed.load_state_dict(state)
    got = [resumed.draw(hw), resumed.draw(hw, np.arange(4))]
    assert all(np.array_equal(e, g) for e, g in zip(expected, got))
