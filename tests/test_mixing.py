"""CutMix / MixUp: image-label alignment through shuffling, mixing and the PyTorch iterator
(images whose pixels encode their own id), lambda statistics, and the torch losses."""

import numpy as np
import pytest
from nvidia.dali import fn, pipeline_def, types
from PIL import Image
from scipy import stats

from dali_regaug import fn as rfn
from dali_regaug import registry
from dali_regaug.ops import composite
from dali_regaug.ops.mixing import Mix

N_IDS, SIDE = 24, 20


def pixel(i):
    return 10 * i  # the colour of image i; its label is 100 + i


@pytest.fixture(scope="module")
def id_images(tmp_path_factory):
    d = tmp_path_factory.mktemp("ids")
    files = []
    for i in range(N_IDS):
        f = d / f"{i:02d}.png"
        Image.fromarray(np.full((SIDE, SIDE + 4, 3), pixel(i), np.uint8)).save(f)
        files.append(str(f))
    return files


def id_pipeline(files, op, **kw):
    @pipeline_def(batch_size=8, num_threads=2, device_id=None, seed=11)
    def pipe():
        png, labels = fn.readers.file(files=files, labels=[100 + i for i in range(N_IDS)],
                                      random_shuffle=True, name="reader")
        x = fn.decoders.image(png, device="cpu", output_type=types.RGB)
        return op(x, labels, return_params=True, name="mix", **kw)

    p = pipe()
    p.build()
    return p


def test_cutmix_pastes_the_partner_and_lam_is_the_kept_area(id_images):
    torch = pytest.importorskip("torch")
    from nvidia.dali.plugin.pytorch import DALIGenericIterator

    pipe = id_pipeline(id_images, rfn.cutmix, alpha=1.0)
    it = DALIGenericIterator([pipe], ["x", "ya", "yb", "lam", "p"], reader_name="reader")
    op = registry.ops(pipe)["mix"]
    seen = 0
    for _ in range(2):  # two epochs: shuffled differently
        for (b,) in it:
            x, ya, yb, lam = b["x"].numpy(), b["ya"].numpy()[:, 0], b["yb"].numpy()[:, 0], \
                b["lam"].numpy()[:, 0]
            recs = rfn.decode_params(op, b["p"].numpy())
            for i in range(len(x)):
                own, partner = pixel(ya[i] - 100), pixel(yb[i] - 100)
                assert own != partner  # no fixed points: a sample is never its own partner
                y0, x0, y1, x1 = recs["boxes"][i, 0]
                inside = np.zeros(x[i].shape[:2], bool)
                inside[y0:y1, x0:x1] = recs["count"][i] > 0
                assert (x[i][inside] == partner).all() and (x[i][~inside] == own).all()
                assert 1 - lam[i] == pytest.approx(inside.mean(), abs=1e-6)
                seen += 1
        it.reset()
    assert seen == 2 * N_IDS
    assert isinstance(b["x"], torch.Tensor)


def test_mixup_blends_with_the_partner_by_lam(id_images):
    pipe = id_pipeline(id_images, rfn.mixup, alpha=0.4)
    x, ya, yb, lam, _ = pipe.run()
    for i in range(len(x)):
        own, partner = pixel(int(ya.at(i)[0]) - 100), pixel(int(yb.at(i)[0]) - 100)
        lam_i = float(lam.at(i)[0])
        expected = lam_i * own + (1 - lam_i) * partner
        assert np.abs(np.asarray(x.at(i)) - expected).max() <= 0.5 + 1e-4


@pytest.mark.parametrize("alpha", [0.2, 0.5, 1.0, 2.0])
def test_mixup_lambda_is_beta_alpha_alpha(alpha):
    lam = Mix(mixup_alpha=alpha, cutmix_alpha=0.0, seed=3).draw(np.full((4000, 2), 32))["w_out"]
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_cutmix_box_side_is_sqrt_one_minus_lambda_with_a_uniform_centre():
    """Eq. 2 with alpha = 1: the pasted fraction t = 1 - lam is uniform, and a box of side
    sqrt(t) with a uniform centre escapes clipping with probability (1 - sqrt(t))**2; so the
    unclipped boxes have t with CDF 6 (t - 4/3 t**1.5 + t**2 / 2)."""
    n = 20000
    p = Mix(mixup_alpha=0.0, cutmix_alpha=1.0, seed=4).draw(np.full((20000, 2), n))
    b = p["boxes"][:, 0].astype(float)
    unclipped = (b[:, 0] > 0) & (b[:, 1] > 0) & (b[:, 2] < n) & (b[:, 3] < n)
    assert ((b[:, 2] - b[:, 0] == b[:, 3] - b[:, 1]) | ~unclipped).all()  # square on a square
    t = ((b[unclipped, 2] - b[unclipped, 0]) / n) ** 2
    cdf = lambda t: 6 * (t - 4 / 3 * t**1.5 + t**2 / 2)  # noqa: E731
    assert stats.kstest(t, cdf).pvalue > 1e-3


def test_prob_and_switch_prob_choose_as_asked():
    op = Mix(mixup_alpha=0.5, cutmix_alpha=1.0, switch_prob=0.3, prob=0.6, seed=5)
    p = op.draw(np.full((20000, 2), 64))
    cut, mixed = p["count"] == 1, p["w_out"] < 1
    assert (cut & mixed).sum() == 0
    assert abs(cut.mean() - 0.6 * 0.3) < 0.015
    assert abs(mixed.mean() - 0.6 * 0.7) < 0.015
    lam = composite.lam(p, np.full((20000, 2), 64))
    assert (lam[~(cut | mixed)] == 1).all() and (lam[cut | mixed] < 1).mean() > 0.99


def test_no_mix_without_prob(id_images):
    x, ya, yb, lam, _ = id_pipeline(id_images, rfn.mix, prob=0.0).run()
    assert all(float(lam.at(i)[0]) == 1.0 for i in range(len(lam)))
    for i in range(len(x)):
        assert (np.asarray(x.at(i)) == pixel(int(ya.at(i)[0]) - 100)).all()


def test_mixed_loss_equals_soft_target_cross_entropy():
    torch = pytest.importorskip("torch")
    from dali_regaug.torch import mixed_cross_entropy, soft_targets

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 10, generator=g)
    ya, yb = torch.randint(0, 10, (16, 1), generator=g), torch.randint(0, 10, (16, 1), generator=g)
    lam = torch.rand(16, 1, generator=g)
    for eps in (0.0, 0.1):
        t = soft_targets(ya, yb, lam, 10, eps)
        assert torch.allclose(t.sum(1), torch.ones(16))
        soft = -(t * logits.log_softmax(1)).sum(1).mean()
        assert torch.allclose(mixed_cross_entropy(logits, ya, yb, lam, eps), soft, atol=1e-6)
    ones = torch.ones(16, 1)
    plain = torch.nn.functional.cross_entropy(logits, ya[:, 0])
    assert torch.allclose(mixed_cross_entropy(logits, ya, yb, ones), plain)


def test_emulated_kernel_inside_dali_matches_numpy(id_images):
    runs = [id_pipeline(id_images, rfn.mix, mixup_alpha=0.5, backend=b).run()
            for b in (None, "emulator")]
    for a, b in zip(*runs):
        assert all(np.array_equal(np.asarray(a.at(i)), np.asarray(b.at(i))) for i in range(len(a)))
