"""The 2D lab's snapshot: D's field on a grid, G's points and the push on each, read without
touching models, RNG or parameter gradients; and the trainer's 2D Samples that carry them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from ganstudio.core import extent
from ganstudio.core.config import DATASETS_2D
from ganstudio.core.train import lab, losses
from ganstudio.core.train.trainer import Trainer

EXTENT = (-3.0, 3.0, -2.0, 4.0)


class RadialD(nn.Module):
    """A toy critic that believes in the unit circle's centre: logit = 2 - |x - c|^2."""

    def __init__(self, centre=(1.0, 0.5)):
        super().__init__()
        self.centre = nn.Parameter(torch.tensor(centre))

    def forward(self, x):
        return 2.0 - (x - self.centre).pow(2).sum(dim=1)


def tiny_models(seed: int = 0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1), nn.Flatten(0))
    return G, D


def test_shapes_and_grid_layout():
    G, D = tiny_models()
    z = torch.randn(50, 4)
    snap = lab.field_snapshot(D, G, z, losses.make("hinge"), EXTENT, resolution=16, device="cpu")
    assert snap.field.shape == (16, 16) and snap.field.dtype == np.float32
    assert snap.fake_points.shape == (50, 2) and snap.fake_points.dtype == np.float32
    assert snap.g_grad.shape == (50, 2) and snap.g_grad.dtype == np.float32
    field, points, grad = snap  # a plain tuple too
    assert field is snap.field and points is snap.fake_points and grad is snap.g_grad

    grid = lab.grid_points(EXTENT, 4)
    assert grid.shape == (16, 2)
    # row-major with y as the row: cell centres, x varying fastest
    np.testing.assert_allclose(grid[:4, 0].numpy(), [-2.25, -0.75, 0.75, 2.25])
    np.testing.assert_allclose(grid[::4, 1].numpy(), [-1.25, 0.25, 1.75, 3.25])
    with pytest.raises(ValueError, match="resolution"):
        lab.field_snapshot(D, G, z, losses.make("hinge"), EXTENT, resolution=1)


@pytest.mark.parametrize("kind", ["nonsaturating", "wgan-gp"])
def test_field_is_d_output_at_the_grid_points(kind):
    G, D = tiny_models()
    loss = losses.make(kind)
    snap = lab.field_snapshot(D, G, torch.randn(8, 4), loss, EXTENT, resolution=12)
    with torch.no_grad():
        expected = loss.d_output(D.eval()(lab.grid_points(EXTENT, 12))).reshape(12, 12).numpy()
    np.testing.assert_allclose(snap.field, expected, rtol=1e-6, atol=1e-6)
    if kind == "nonsaturating":
        assert snap.field.min() >= 0.0 and snap.field.max() <= 1.0


def test_fake_points_are_g_in_eval_mode():
    G, D = tiny_models()
    G.train()
    G(torch.randn(64, 4))  # give BatchNorm running stats that differ from a batch's own
    z = torch.randn(20, 4)
    snap = lab.field_snapshot(D, G, z, losses.make("nonsaturating"), EXTENT)
    with torch.no_grad():
        expected = G.eval()(z).numpy()
    np.testing.assert_array_equal(snap.fake_points, expected)


def radial_snapshot(kind: str) -> tuple[lab.FieldSnapshot, np.ndarray, np.ndarray]:
    """The snapshot for RadialD and points 2z spread over the extent; also, per point, the unit
    vector toward D's peak and D's logit."""
    centre = torch.tensor([1.0, 0.5])
    D = RadialD(tuple(centre.tolist()))
    G = nn.Linear(2, 2)
    with torch.no_grad():
        G.weight.copy_(2 * torch.eye(2))
        G.bias.zero_()
    z = torch.randn(100, 2, generator=torch.Generator().manual_seed(1))
    snap = lab.field_snapshot(D, G, z, losses.make(kind), EXTENT, resolution=8)
    to_centre = centre.numpy() - snap.fake_points
    uphill = to_centre / np.linalg.norm(to_centre, axis=1, keepdims=True)
    logit = 2.0 - (to_centre**2).sum(1)
    return snap, uphill, logit


def cosine(grad: np.ndarray, unit: np.ndarray) -> np.ndarray:
    return (grad * unit).sum(1) / np.maximum(np.linalg.norm(grad, axis=1), 1e-30)


@pytest.mark.parametrize("kind", ["nonsaturating", "minimax", "hinge", "wgan-gp"])
def test_arrows_point_toward_higher_d(kind):
    snap, uphill, _ = radial_snapshot(kind)
    moving = np.linalg.norm(snap.g_grad, axis=1) > 1e-6
    # minimax saturates: far from D's peak, D(G(z)) ~ 0 and the push vanishes
    assert moving.mean() > (0.5 if kind == "minimax" else 0.99)
    assert (cosine(snap.g_grad[moving], uphill[moving]) > 0.999).all()  # straight uphill on D


def test_arrows_are_the_per_point_loss_gradient():
    snap, _, _ = radial_snapshot("nonsaturating")
    # -d/dx softplus(-s) with s = 2 - |x - c|^2 is sigmoid(-s) * ds/dx = sigmoid(-s) * -2(x - c)
    x = torch.from_numpy(snap.fake_points)
    s = 2.0 - (x - torch.tensor([1.0, 0.5])).pow(2).sum(1)
    expected = torch.sigmoid(-s)[:, None] * -2 * (x - torch.tensor([1.0, 0.5]))
    np.testing.assert_allclose(snap.g_grad, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_minimax_push_vanishes_where_nonsaturating_is_strong():
    minimax, _, logit = radial_snapshot("minimax")
    nonsat, _, _ = radial_snapshot("nonsaturating")
    far = logit < -6  # D is sure these are fake
    assert far.sum() > 5
    ratio = np.linalg.norm(minimax.g_grad[far], axis=1) / np.linalg.norm(nonsat.g_grad[far], axis=1)
    assert (ratio < 0.01).all()


def test_lsgan_arrows_point_toward_the_real_target():
    # LSGAN's G wants D = 1 exactly: uphill where D < 1, downhill where D overshoots
    snap, uphill, logit = radial_snapshot("lsgan")
    cos = cosine(snap.g_grad, uphill)
    assert (cos[logit < 0.99] > 0.999).all() and (cos[logit > 1.01] < -0.999).all()
    assert (logit > 1.01).sum() > 3 and (logit < 0.99).sum() > 3


def model_state(G: nn.Module, D: nn.Module) -> dict[str, torch.Tensor]:
    return {
        **{f"G.{k}": v.clone() for k, v in G.state_dict().items()},
        **{f"D.{k}": v.clone() for k, v in D.state_dict().items()},
    }


def test_snapshot_is_a_pure_read():
    G, D = tiny_models()
    G.train()
    D.train()
    G(torch.randn(32, 4))
    D[0].weight.requires_grad_(False)  # a frozen layer stays frozen, the others trainable
    for p in D.parameters():
        p.grad = torch.full_like(p, 7.0) if p.requires_grad else None
    before = model_state(G, D)
    flags = [p.requires_grad for p in D.parameters()]
    z = torch.randn(16, 4)
    rng = torch.get_rng_state()
    np_rng = np.random.get_state()[1].copy()

    lab.field_snapshot(D, G, z, losses.make("wgan-gp"), EXTENT, resolution=8)

    assert torch.equal(torch.get_rng_state(), rng)
    assert np.array_equal(np.random.get_state()[1], np_rng)
    after = model_state(G, D)
    for k, v in before.items():
        assert torch.equal(v, after[k]), k  # weights and BatchNorm buffers alike
    assert [p.requires_grad for p in D.parameters()] == flags
    assert all(p.requires_grad and p.grad is None for p in G.parameters())
    for p in D.parameters():
        assert (p.grad is None) if not p.requires_grad else torch.equal(p.grad, torch.full_like(p, 7.0))
    assert G.training and D.training


def test_data_extent_is_square_with_a_margin():
    x = np.array([[0.0, 0.0], [2.0, 1.0], [np.nan, 5.0]], dtype=np.float32)
    xmin, xmax, ymin, ymax = lab.data_extent(x, margin=0.5)
    assert (xmin, xmax) == pytest.approx((-0.5, 2.5))
    assert (ymin, ymax) == pytest.approx((-1.0, 2.0))  # as wide as x, centred on y's range
    assert lab.data_extent(np.empty((0, 2))) == (-1.0, 1.0, -1.0, 1.0)


def test_ring8_samples_carry_the_lab(tiny_config):
    t = Trainer(tiny_config("ring8", steps=4))
    for _ in range(4):
        t.train_step()
    rng = torch.get_rng_state()
    noise = t.noise_gen.get_state()
    ev = t.samples()
    assert torch.equal(torch.get_rng_state(), rng) and torch.equal(t.noise_gen.get_state(), noise)
    assert ev.grid is None and ev.points.shape == (1024, 2)
    assert ev.field.shape == (lab.FIELD_RESOLUTION, lab.FIELD_RESOLUTION)
    assert ev.field.dtype == np.float32 and ev.arrows.dtype == np.float32
    assert ev.arrows.shape == ev.points.shape and np.isfinite(ev.arrows).all()
    assert ev.field.min() >= 0.0 and ev.field.max() <= 1.0  # nonsaturating: probabilities
    xmin, xmax, ymin, ymax = ev.extent
    assert xmin < -2 and xmax > 2 and ymin < -2 and ymax > 2  # the ring of radius 2, with room
    assert all(isinstance(v, float) for v in ev.extent)
    assert t.samples().extent == ev.extent  # fixed for the run: the view doesn't jump
    with torch.no_grad():
        np.testing.assert_array_equal(ev.points, t.G.eval()(t.fixed_noise).numpy())


def test_image_samples_have_no_lab(tiny_config):
    ev = Trainer(tiny_config("digits", steps=1)).samples()
    assert ev.grid is not None and ev.field is None and ev.extent is None and ev.arrows is None


def test_watching_does_not_change_training(tiny_config):
    """Two runs, one sampled every step: the same weights at the end (exact resume still holds)."""
    cfg = tiny_config("ring8", steps=6)
    a, b = Trainer(cfg), Trainer(cfg)
    for _ in range(6):
        a.train_step()
        b.train_step()
        b.samples()
    for (k, va), vb in zip(a.G.state_dict().items(), b.G.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    for (k, va), vb in zip(a.D.state_dict().items(), b.D.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


@pytest.mark.parametrize("name", DATASETS_2D)
def test_the_preview_of_a_toy_is_drawn_as_the_toy_is(name):
    """What the 2D lab shows before a run has loaded its data (torch-free): the toy's own modes and
    spread, the same count per mode, and so the same extent as the data, within a few per cent."""
    from ganstudio.core.data.toys import load_toy

    data = load_toy(name, seed=3)
    modes, std = extent.toy_modes(name)
    np.testing.assert_allclose(modes, data.modes.numpy(), atol=1e-6)
    assert std == data.mode_std
    p = extent.preview_points(name, seed=3)
    assert p.shape == (extent.PREVIEW_POINTS // len(modes) * len(modes), 2)
    nearest = np.linalg.norm(p[:, None, :] - modes[None], axis=2).argmin(axis=1)
    assert np.bincount(nearest, minlength=len(modes)).tolist() == [len(p) // len(modes)] * len(modes)
    assert np.abs(p - modes[nearest]).max() < 6 * std
    real, seen = np.array(extent.data_extent(data.x)), np.array(extent.data_extent(p))
    assert np.abs(real - seen).max() < 0.03 * (real[1] - real[0])
    np.testing.assert_array_equal(extent.preview_points(name, seed=3), p)  # the same picture each time


def test_image_data_has_no_preview_and_the_preview_needs_no_torch():
    assert extent.preview_points("digits") is None and extent.toy_modes("cifar10") is None
    code = (
        "import sys, ganstudio.core.extent as e; e.preview_points('spiral'); "
        "assert 'torch' not in sys.modules, 'extent imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
