"""ganstudio.core.models and losses: shapes, initialisation, every objective, numerical safety."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core import config, models
from ganstudio.core.config import Config, resolved_image_shape, validate, with_values
from ganstudio.core.models import dcgan, mlp
from ganstudio.core.run.events import Stats
from ganstudio.core.train import losses
from tests.core.conftest import of_type, run_all

# --- shapes ----------------------------------------------------------------------------------------

SHAPE_CASES = [
    # (arch, dataset, image_size, channels, width)
    ("mlp", "digits", 0, 0, 8),
    ("mlp", "digits", 12, 3, 8),
    ("mlp", "ring8", 0, 0, 16),
    ("mlp", "spiral", 0, 0, 0),
] + [("dcgan", "mnist", size, ch, 8) for size in config.DCGAN_SIZES for ch in (1, 3)]


@pytest.mark.parametrize(("arch", "dataset", "size", "channels", "width"), SHAPE_CASES)
def test_output_shapes(arch, dataset, size, channels, width):
    cfg = validate(
        with_values(
            Config(),
            {
                "model.arch": arch,
                "data.dataset": dataset,
                "data.image_size": size,
                "data.channels": channels,
                "model.width": width,
                "model.latent_dim": 12,
            },
        )
    )
    shape = (2,) if config.is_2d(cfg) else resolved_image_shape(cfg.data)
    if arch == "dcgan":
        assert shape == (channels, size, size)
    g, d = models.build(cfg, shape)
    z = torch.randn(3, 12)
    x = g(z)
    assert x.shape == (3, *shape) and x.dtype == torch.float32
    if len(shape) == 3:  # images come out of a tanh
        assert x.abs().max() <= 1.0
    scores = d(x)
    assert scores.shape == (3,)
    assert d(torch.randn(5, *shape)).shape == (5,)
    g.eval()
    assert g(torch.randn(1, 12)).shape == (1, *shape)  # eval mode takes a single sample
    assert torch.isfinite(scores).all()


def test_registry_and_widths():
    assert set(models.REGISTRY) == set(config.ARCHS)
    cfg = Config()
    g, d = models.build(cfg, (1, 8, 8))
    assert isinstance(g, mlp.Generator) and isinstance(d, mlp.Discriminator)
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [64, 128, 256, 512, 64]
    cfg = validate(with_values(Config(), {"model.arch": "dcgan", "data.image_size": 32}))
    g, d = models.build(cfg, (1, 32, 32))
    assert isinstance(g, dcgan.Generator) and isinstance(d, dcgan.Discriminator)
    assert g.head[0].in_channels == 100 and g.head[0].out_channels == 64 * 4  # 4 -> 8 -> 16 -> 32


def test_dcgan_28_starts_at_7():
    assert dcgan._plan(28) == (7, 2) and dcgan._plan(64) == (4, 4) and dcgan._plan(16) == (4, 2)
    with pytest.raises(ValueError, match="24x24"):
        dcgan._plan(24)


def test_dcgan_init_follows_the_paper():
    torch.manual_seed(0)
    cfg = validate(with_values(Config(), {"model.arch": "dcgan", "data.dataset": "cifar10"}))
    g, d = models.build(cfg, (3, 32, 32))
    convs = [m for m in (*g.modules(), *d.modules()) if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 8 and len(norms) == 3
    for m in convs:
        w = m.weight.detach()
        if w.numel() >= 10_000:
            assert abs(w.std().item() - 0.02) < 0.002, m
            assert abs(w.mean().item()) < 0.002, m
        if m.bias is not None:
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
    scales = torch.cat([m.weight.detach() for m in norms])
    assert abs(scales.mean().item() - 1.0) < 0.01 and 0.01 < scales.std().item() < 0.03
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in norms)


def test_mlp_init_is_the_same_normal():
    torch.manual_seed(0)
    g, d = models.build(Config(), (1, 8, 8))
    big = [m.weight.detach() for m in (*g.modules(), *d.modules()) if isinstance(m, nn.Linear)]
    w = torch.cat([x.flatten() for x in big])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001


# --- every loss trains ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", config.LOSSES)
@pytest.mark.parametrize("data", ["digits", "ring8"])
def test_every_loss_trains_a_few_steps(kind, data, tiny_config, make_trainer):
    cfg = tiny_config(data, {"loss.kind": kind}, steps=3, every=1)
    t = make_trainer(cfg)
    before = [p.detach().clone() for p in (*t.G.parameters(), *t.D.parameters())]
    stats = of_type(run_all(t), Stats)
    assert [s.step for s in stats] == [1, 2, 3]
    for s in stats:
        for key, value in s.values.items():
            assert math.isfinite(value), (kind, s.step, key, value)
        assert s.values["grad_d"] > 0 and s.values["grad_g"] > 0
        assert s.values["lr_g"] == cfg.optim.lr_g and s.values["lr_d"] == cfg.optim.lr_d
        if losses.make(kind).probabilistic:
            assert 0 < s.values["d_real"] < 1 and 0 < s.values["d_fake"] < 1
    after = [p.detach() for p in (*t.G.parameters(), *t.D.parameters())]
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True) if a.dim() > 1)


def test_loss_registry_covers_the_config():
    assert set(losses.LOSSES) == set(config.LOSSES)
    for kind in config.LOSSES:
        assert losses.make(kind).name == kind


# --- formulas --------------------------------------------------------------------------------------

REAL = torch.linspace(-5, 5, 11)
FAKE = torch.linspace(-4, 6, 11).flip(0)


def test_loss_formulas_on_moderate_values():
    sig_r, sig_f = torch.sigmoid(REAL), torch.sigmoid(FAKE)
    bce_d = -(torch.log(sig_r).mean() + torch.log(1 - sig_f).mean())
    cases = {
        "minimax": (bce_d, torch.log(1 - sig_f).mean()),
        "nonsaturating": (bce_d, -torch.log(sig_f).mean()),
        "hinge": (F.relu(1 - REAL).mean() + F.relu(1 + FAKE).mean(), -FAKE.mean()),
        "lsgan": (0.5 * ((REAL - 1) ** 2).mean() + 0.5 * (FAKE**2).mean(), 0.5 * ((FAKE - 1) ** 2).mean()),
        "wgan-gp": (FAKE.mean() - REAL.mean(), -FAKE.mean()),
    }
    for kind, (d_ref, g_ref) in cases.items():
        loss = losses.make(kind)
        torch.testing.assert_close(loss.d_loss(REAL, FAKE), d_ref, msg=kind)
        torch.testing.assert_close(loss.g_loss(FAKE), g_ref, msg=kind)


def test_d_output_is_a_probability_only_for_logit_losses():
    for kind in config.LOSSES:
        loss = losses.make(kind)
        expected = torch.sigmoid(REAL) if kind in ("minimax", "nonsaturating") else REAL
        torch.testing.assert_close(loss.d_output(REAL), expected)


@pytest.mark.parametrize("kind", config.LOSSES)
def test_losses_are_finite_for_extreme_logits(kind):
    loss = losses.make(kind)
    real = torch.tensor([1e4, -1e4, 0.0, 30.0], requires_grad=True)
    fake = torch.tensor([-1e4, 1e4, 0.0, -30.0], requires_grad=True)
    d = loss.d_loss(real, fake)
    g = loss.g_loss(fake)
    assert torch.isfinite(d) and torch.isfinite(g)
    gr_real, gr_fake = torch.autograd.grad(d, (real, fake))
    (gg_fake,) = torch.autograd.grad(g, fake)
    for grad in (gr_real, gr_fake, gg_fake):
        assert torch.isfinite(grad).all(), (kind, grad)


def test_logit_losses_are_exact_at_extremes():
    # A naive log(sigmoid(x)) gives -inf at x = -1e4; softplus gives the exact 1e4.
    mm, ns = losses.make("minimax"), losses.make("nonsaturating")
    big = torch.tensor([1e4])
    assert mm.d_loss(-big, big).item() == pytest.approx(2e4)
    assert mm.d_loss(big, -big).item() == 0.0
    assert mm.g_loss(big).item() == pytest.approx(-1e4)
    assert ns.g_loss(-big).item() == pytest.approx(1e4)
    assert ns.g_loss(big).item() == 0.0
    fake = torch.tensor([-1e4, 1e4], requires_grad=True)
    (grad,) = torch.autograd.grad(ns.g_loss(fake), fake)
    torch.testing.assert_close(grad, torch.tensor([-0.5, 0.0]))  # d/dx softplus(-x) = -sigmoid(-x)


# --- gradient penalty -----------------------------------------------------------------------------


def _linear_critic(shape: tuple[int, ...], norm: float) -> nn.Module:
    n = math.prod(shape)
    lin = nn.Linear(n, 1, bias=True)
    with torch.no_grad():
        w = torch.randn(1, n)
        lin.weight.copy_(w / w.norm() * norm)
    return nn.Sequential(nn.Flatten(), lin)


@pytest.mark.parametrize("shape", [(2,), (1, 4, 4), (3, 8, 8)])
def test_gradient_penalty_of_a_unit_norm_linear_critic_is_zero(shape):
    torch.manual_seed(0)
    real, fake = torch.randn(16, *shape), torch.randn(16, *shape)
    gp = losses.gradient_penalty(_linear_critic(shape, 1.0), real, fake)
    assert gp.item() < 1e-10
    d2 = _linear_critic(shape, 2.0)
    gp2 = losses.gradient_penalty(d2, real, fake)
    assert gp2.item() == pytest.approx(1.0, rel=1e-5)  # (||w|| - 1)^2
    gp2.backward()  # the penalty is differentiable w.r.t. D's weights
    assert d2[1].weight.grad is not None and d2[1].weight.grad.norm() > 0


def test_gradient_penalty_uses_the_given_generator():
    d = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    a = losses.gradient_penalty(d, real, fake, torch.Generator().manual_seed(5))
    b = losses.gradient_penalty(d, real, fake, torch.Generator().manual_seed(5))
    c = losses.gradient_penalty(d, real, fake, torch.Generator().manual_seed(6))
    assert a.item() == b.item() and a.item() != c.item()
