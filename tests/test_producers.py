"""Saliency producers: each equals its closed form on models whose gradients are known, leaves
the model as it found it, and feeds the bank."""

import pytest
import torch
import torch.nn.functional as F

from conftest import operator
from dali_regaug.saliency import producers

B, C, H, W, K = 3, 3, 16, 12, 5


def normalized(m):
    return m / m.mean((1, 2), keepdim=True)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * H * W, K))


@pytest.fixture
def batch():
    torch.manual_seed(1)
    return torch.randn(B, C, H, W), torch.tensor([0, 3, 4])


def test_vanilla_is_the_true_logits_input_gradient_max_over_channels(linear, batch):
    x, y = batch
    weight = linear[1].weight.detach().reshape(K, C, H, W)
    expected = normalized(weight[y].abs().amax(1))
    torch.testing.assert_close(producers.vanilla(linear, x, y, grid=None), expected)
    # with mixed labels, the sample's own label is the true one
    mixed = (y, torch.tensor([1, 1, 1]), torch.full((B,), 0.7))
    torch.testing.assert_close(producers.vanilla(linear, x, mixed, grid=None), expected)


def test_vanilla_pools_to_the_grid_by_area(linear, batch):
    x, y = batch
    full = producers.vanilla(linear, x, y, grid=None)
    pooled = producers.vanilla(linear, x, y, grid=4)
    assert pooled.shape == (B, 4, 4)
    torch.testing.assert_close(pooled, normalized(F.adaptive_avg_pool2d(full[:, None], 4)[:, 0]))


def test_lowres_is_vanilla_on_the_downsampled_input():
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * H * W // 4, K))
    x, y = torch.randn(B, C, H, W), torch.tensor([1, 2, 3])
    weight = model[1].weight.detach().reshape(K, C, H // 2, W // 2)
    got = producers.lowres(model, x, y, factor=2, grid=None)
    torch.testing.assert_close(got, normalized(weight[y].abs().amax(1)))


def test_gradcam_is_the_class_weighted_activation():
    torch.manual_seed(3)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(C, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, K)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    net = Net()
    x, y = torch.randn(B, C, H, W), torch.tensor([0, 1, 2])
    act = net.conv(x).detach()
    alpha = net.fc.weight.detach()[y] / (H * W)  # d l_y / d A_k is uniform over the map
    cam = F.relu((alpha[:, :, None, None] * act).sum(1))
    torch.testing.assert_close(producers.gradcam(net, x, y, layer="conv"), normalized(cam))
    with pytest.raises(ValueError, match="layer='layer9' is not a module"):
        producers.gradcam(net, x, y, layer="layer9")


def test_free_saliency_is_the_training_losss_input_gradient(linear, batch):
    x, y = batch
    free = producers.FreeSaliency(grid=None)
    with pytest.raises(RuntimeError, match="watch"):
        free.maps(x)
    xw = free.watch(x)
    loss = F.cross_entropy(linear(xw), y)
    loss.backward()
    probs = F.softmax(linear(x), 1).detach()
    dlogits = (probs - F.one_hot(y, K)) / B
    grad = (dlogits @ linear[1].weight.detach()).reshape(B, C, H, W)
    torch.testing.assert_close(free.maps(xw), normalized(grad.abs().amax(1)))


def test_producers_leave_the_model_training_with_its_statistics_and_no_grads():
    torch.manual_seed(4)
    net = torch.nn.Sequential(torch.nn.Conv2d(C, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, K))
    x, y = torch.randn(B, C, H, W), torch.tensor([0, 1, 2])
    net(x)  # statistics that differ from the initial ones
    stats = net[1].running_mean.clone()
    for make in (lambda: producers.vanilla(net, x, y), lambda: producers.lowres(net, x, y),
                 lambda: producers.gradcam(net, x, y, layer="1")):
        m = make()
        assert torch.isfinite(m).all() and m.ndim == 3
        assert net.training
        assert all(p.grad is None and p.requires_grad for p in net.parameters())
        torch.testing.assert_close(net[1].running_mean, stats)


@pytest.mark.parametrize("backend", [None, "emulator"])
def test_the_per_step_mode_cuts_around_this_steps_saliency(backend):
    """KeepAugment's own algorithm: maps of the clean batch place the cut at that step."""
    import numpy as np

    from dali_regaug.ops import rects
    from dali_regaug.saliency import step

    torch.manual_seed(5)
    n = 32
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(C * 32 * 32, K))
    with torch.no_grad():  # the model only looks at the upper-left 8x8 of channel 0
        model[1].weight.zero_()
        model[1].weight.reshape(K, C, 32, 32)[:, 0, :8, :8] = torch.randn(K, 8, 8)
    x, y = torch.randn(n, C, 32, 32), torch.randint(0, K, (n,))
    maps = producers.vanilla(model, x, y, grid=16)
    op = operator("keep_cutout", bank=None, size=10, tau=0.5, fill=0.0, layout="CHW", seed=6,
                    backend=backend)
    out, recs = step.apply(op, x, maps)
    cut = rects.last_box(recs, 32, 32) >= 0
    assert cut.any((1, 2)).all()
    assert not cut[:, :8, :8].any()
    np.testing.assert_array_equal(out.numpy(), np.where(cut[:, None], 0, x.numpy()))
    with pytest.raises(ValueError, match="layout='CHW'"):
        step.apply(operator("keep_cutout", bank=None, size=4), x, maps)
