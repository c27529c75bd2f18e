"""Selective paste, saliency-guided CutMix and CAM-guided erasing: each region lands on the
side of the threshold its paper asks for, samples without a map get exactly the unguided
operator, and the DALI operators replay from their parameters (NumPy and emulator)."""

import numpy as np
import pytest
from nvidia.dali import fn as dfn
from nvidia.dali import pipeline_def, types

from conftest import assert_match, brute_allowed, brute_pixel_scores, operator, view
from datasets import spot_bank
from dali_regaug import fn, registry, rng
from dali_regaug.ops import composite, rects
from dali_regaug.ops.erasing import (ATTEMPTS, ATTEMPTS_MORE, MAX_ATTEMPTS, RandomErasing,
                                     sizes)
from dali_regaug.ops.mixing import Mix
from dali_regaug.pipelines import train_pipeline
from dali_regaug.saliency import SaliencyBank

N, HW, SPOT = 200, (40, 48), np.s_[10:20, 30:40]


@pytest.fixture(scope="module")
def bank():
    with SaliencyBank(1) as b:
        yield b


def spot_maps(n=N):
    maps = np.zeros((n, *HW), np.float32)
    maps[:, SPOT[0], SPOT[1]] = 1.0
    return list(maps)


def on_allowed_side(m, size, centre, tau, above):
    """The candidate centred at ``centre`` is strictly past the tau-quantile of all
    candidates of ``size`` (or at the extreme score when none is): the paper's rule, by
    brute force over every pixel."""
    s = brute_pixel_scores(m[None], size, *m.shape)[0]
    return brute_allowed(s, tau, above)[centre]


def test_the_paste_always_brings_back_the_salient_spot(bank):
    maps, hw = spot_maps(), np.tile(HW, (N, 1))
    present = np.arange(N) % 4 != 0
    p = operator("keep_paste", bank=bank, size=8, tau=0.8, seed=1).draw(hw, view=view(maps, present))
    on_spot = (rects.last_box(p, *HW)[:, SPOT[0], SPOT[1]] >= 0).any((1, 2))
    assert on_spot[present].all()
    assert (p["count"][~present] == 0).all()  # no map: A(x) is kept whole
    assert (p["w_in"] == 1).all() and (p["w_out"] == 0).all()


def test_keep_cutmix_centres_its_box_on_low_saliency_and_is_cutmix_without_a_map(bank):
    maps, hw = spot_maps(), np.tile(HW, (N, 1))
    present = np.arange(N) % 3 != 0
    p = operator("keep_cutmix", bank=bank, alpha=1.0, tau=0.5, seed=2).draw(hw, view=view(maps, present))
    plain = Mix(mixup_alpha=0.0, cutmix_alpha=1.0, seed=2).draw(hw)
    np.testing.assert_array_equal(p[~present], plain[~present])
    # CutMix's own box size (Eq. 2, floor as the official code), the same draw for both
    side = np.sqrt(1 - rng.beta(p["key"], 1.0))
    size = np.stack([np.floor(HW[0] * side), np.floor(HW[1] * side)], 1).astype(int)
    for i in np.flatnonzero(present):
        y0, x0, y1, x1 = p["boxes"][i, 0]
        # the centre of an unclipped box is y0 + sh // 2; recover it from either edge
        cy = y0 + size[i, 0] // 2 if y0 > 0 else y1 - size[i, 0] + size[i, 0] // 2
        cx = x0 + size[i, 1] // 2 if x0 > 0 else x1 - size[i, 1] + size[i, 1] // 2
        assert on_allowed_side(maps[i], size[i], (cy, cx), 0.5, above=False), i
    np.testing.assert_allclose(composite.lam(p, hw), 1 - np.prod(
        np.diff(p["boxes"][:, 0].reshape(-1, 2, 2), axis=1)[:, 0], 1) / np.prod(HW), rtol=1e-6)
    covered = rects.last_box(p, *HW)[:, SPOT[0], SPOT[1]] >= 0
    plain_covered = rects.last_box(plain, *HW)[:, SPOT[0], SPOT[1]] >= 0
    assert covered[present].mean() < 0.5 * plain_covered[present].mean()


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_cam_erasing_centres_regions_in_the_objects_vicinity(bank, threshold):
    maps, hw = spot_maps(), np.tile(HW, (N, 1))
    maps = [m + 0.3 * (np.arange(HW[1]) >= 24) for m in maps]  # a weaker right half
    present = np.arange(N) % 3 != 0
    op = operator("cam_erasing", bank=bank, threshold=threshold, prob=0.8, count=(1, 2), seed=3)
    p = op.draw(hw, view=view(maps, present))
    plain = RandomErasing(prob=0.8, count=(1, 2), seed=3).draw(hw)
    np.testing.assert_array_equal(p[~present], plain[~present])
    assert (p["count"] == plain["count"]).all()
    u = np.concatenate([op.uniforms(p["key"])[:, 2:].reshape(N, 2, ATTEMPTS, 4)] + [
        rng.uniform(p["key"], 8 * ATTEMPTS_MORE, offset=2 + 8 * done).reshape(
            N, 2, ATTEMPTS_MORE, 4) for done in range(ATTEMPTS, MAX_ATTEMPTS, ATTEMPTS_MORE)],
        axis=2)  # every attempt Algorithm 1's redraws may use
    eh, ew = sizes(u, HW[0], HW[1], op.area, op.aspect)  # Random Erasing's own size draws
    near = maps[0] >= threshold * maps[0].max()
    placed = 0
    for i in np.flatnonzero(present):
        for j in range(2):
            y0, x0, y1, x1 = p["boxes"][i, j]
            if y1 == 0:
                continue  # no attempt fitted
            placed += 1
            assert 0 <= y0 < y1 <= HW[0] and 0 <= x0 < x1 <= HW[1]
            assert ((eh[i, j] == y1 - y0) & (ew[i, j] == x1 - x0)).any()
            assert near[y0 + (y1 - y0) // 2, x0 + (x1 - x0) // 2]
    assert placed > N // 2


@pytest.mark.parametrize("backend", [None, "emulator"])
def test_dali_keep_paste_composites_the_original_onto_its_transform(backend):
    files, bank = spot_bank()

    @pipeline_def(batch_size=4, num_threads=1, device_id=None, seed=4)
    def pipe():
        jpegs, labels = dfn.readers.file(files=files, labels=list(range(len(files))))
        img = dfn.resize(dfn.decoders.image(jpegs, output_type=types.RGB), size=[40, 40])
        img = dfn.crop_mirror_normalize(img, dtype=types.FLOAT, output_layout="CHW",
                                        mean=[128.0] * 3, std=[64.0] * 3)
        ids = dfn.cast(labels, dtype=types.INT64)
        crops = dfn.constant(fdata=[0.0, 0.0, 1.0, 1.0], shape=[4])
        flips = dfn.constant(idata=0, dtype=types.INT32)
        aug = fn.image_level(img, layout="CHW")
        out, p = fn.keep_paste(img, sample_ids=ids, crops=crops, flips=flips, bank=bank, size=12, tau=0.8,
                               augmented=aug, layout="CHW", return_params=True, name="paste",
                               backend=backend)
        return img, aug, out, p

    with bank:
        p = pipe()
        p.build()
        op = registry.ops(p)["paste"]
        img, aug, out, raw = (list(map(np.array, o)) for o in p.run())
        recs = fn.decode_params(op, raw)
        assert_match("keep_paste_replay", op.apply(img, aug, recs, backend="numpy"), out, recs)
        if backend is None:  # the CPU kernel node, its second source an input per sample
            assert "RegionKernel" in {type(o._op).__name__ for o in p._ops}
        assert (recs["count"] == 1).all()
        inside = rects.last_box(recs, 40, 40)[:, None] >= 0  # the paper's M(S), per pixel
        for x, a, o, m in zip(img, aug, out, inside):
            np.testing.assert_array_equal(o, np.where(m, x, a))
        spot = rects.last_box(recs, 40, 40)[:, 5:17, 22:35] >= 0  # bank cells 2:7, 9:14
        assert spot.any((1, 2)).all()
        assert not np.array_equal(np.array(aug), np.array(img))  # A did transform


def test_the_default_transform_and_every_guided_op_build_from_a_spec():
    files, bank = spot_bank()
    with bank:
        for spec, outputs in (("keep_paste(size=16,tau=0.7)", 6),  # ..., flip, visible
                              ("cam_erasing(threshold=0.5,p=1)", 6),
                              ("keep_cutmix(alpha=1,tau=0.5)", 8)):
            pipe = train_pipeline(files, batch_size=4, size=48, device="cpu", seed=5,
                                  augment=spec, bank=bank)
            out = pipe.run()
            assert len(out) == outputs, spec
            assert out[0].as_array().shape == (4, 3, 48, 48)
            if "cutmix" in spec:
                lam = out[3].as_array().ravel()
                assert ((lam > 0) & (lam <= 1)).all()


def test_arguments_of_the_guided_ops_are_checked(bank):
    with pytest.raises(ValueError, match="threshold"):
        operator("cam_erasing", bank=bank, threshold=2)
    with pytest.raises(ValueError, match="size"):
        operator("keep_paste", bank=bank, size=0)
    with pytest.raises(ValueError, match="alpha=-1 is out of range"):
        operator("keep_cutmix", bank=bank, alpha=-1)
    with pytest.raises(ValueError, match="rotate"):
        @pipeline_def(batch_size=1, num_threads=1, device_id=None)
        def pipe():
            return fn.image_level(dfn.random.uniform(shape=[4, 4, 3]), rotate=270)

        pipe()


def test_the_pipeline_tells_the_trainer_which_pixels_are_the_samples_own():
    files, bank = spot_bank()
    with bank:
        for spec in ("keep_cutout(size=12,tau=0.5,fill=0)", "keep_cutmix(alpha=1,tau=0.5)"):
            pipe = train_pipeline(files, batch_size=4, size=40, device="cpu", layout="HWC",
                                  seed=6, augment=spec, bank=bank)
            assert pipe.output_names[-1] == "visible"
            out = pipe.run()
            visible = out[-1].as_array().astype(bool)
            assert visible.shape == (4, 40, 40) and not visible.all()
            if "cutout" in spec:
                np.testing.assert_array_equal(~visible, (out[0].as_array() == 0).all(-1))
            else:  # CutMix: the partner's box is not the sample's own image
                lam = out[3].as_array().ravel()
                np.testing.assert_allclose(visible.mean((1, 2)), lam, atol=1e-6)


def test_erased_cells_of_a_view_leave_the_bank_alone():
    import torch

    from dali_regaug.train import Precision, SaliencyStep

    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 32 * 32, 5))
    with SaliencyBank(4, 8, mode="overwrite") as bank:
        step = SaliencyStep("free", model, bank, "0")
        x = step.watch(torch.randn(4, 3, 32, 32))
        torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
        visible = torch.ones(4, 32, 32, dtype=torch.bool)
        visible[:, :, :16] = False  # the left half was erased
        info = {"sample_id": torch.arange(4), "crop": torch.tensor([[0.0, 0, 1, 1]] * 4),
                "flip": torch.zeros(4, dtype=torch.bool), "visible": visible}
        step.update(x, None, info, Precision.choose(torch.device("cpu")))
        maps = bank.maps.astype(np.float32)
        assert (maps[:, :, :4] == 0).all() and (maps[:, :, 4:] > 0).all()
