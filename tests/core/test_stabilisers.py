"""The stabilisers: R1 and R2 (zero-centred gradient penalties, lazy by loss.r_every), the
relativistic pairing loss (loss.kind = rpgan) and spectral normalisation (model.spectral_norm).

The penalties are checked on a discriminator whose input gradient is known in closed form,
D(x) = w.x + a/2 ||x||^2 (so grad D(x) = w + a x), given to the trainer as your own model file."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganstudio.core import models
from ganstudio.core.config import KEYS, presets, with_values
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Finished, HyperparamsChanged, Stats
from ganstudio.core.train import penalties
from ganstudio.core.train.losses import RpGAN, make
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import dataset_for, of_type, run_all
from tests.core.test_checkpoints import assert_same

KNOWN_D = """
import torch
from torch import nn


class D(nn.Module):
    # D(x) = w.x + a/2 ||x||^2: its input gradient is w + a x.
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.6, -0.8]))
        self.a = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return x @ self.w + 0.5 * self.a * x.pow(2).sum(1)


def build(cfg, shape):
    return nn.Sequential(nn.Linear(cfg.model.latent_dim, 16), nn.ReLU(), nn.Linear(16, 2)), D()
"""


@pytest.fixture
def known_d(tmp_path) -> str:
    path = tmp_path / "known_d.py"
    path.write_text(KNOWN_D)
    return f"{path}:build"


def test_zero_centred_penalty_of_a_linear_d_is_its_weight_norm():
    w = torch.tensor([3.0, -1.0, 2.0])
    x = torch.randn(5, 3, requires_grad=True)
    scores = x @ w + 7.0
    assert penalties.zero_centred(scores, x).item() == pytest.approx(float(w @ w))  # ||w||^2 = 14


def _recorded(monkeypatch) -> list[tuple]:
    """Every D penalty the trainer adds: (step, weights, what it added, the expected R1 and R2)."""
    calls = []
    original = penalties.d_penalty

    def spy(trainer, weights, real, fake, d_real, d_fake):
        out = original(trainer, weights, real, fake, d_real, d_fake)
        d = trainer.D
        with torch.no_grad():
            r1 = (d.w + d.a * real).pow(2).sum(1).mean().item()
            r2 = (d.w + d.a * fake).pow(2).sum(1).mean().item()
        calls.append((trainer.step, weights, None if out is None else out.item(), r1, r2))
        return out

    monkeypatch.setattr(penalties, "d_penalty", spy)
    return calls


@pytest.mark.parametrize(("values", "on"), [({"loss.r1": 4.0}, "r1"), ({"loss.r2": 3.0}, "r2")])
def test_r1_and_r2_are_the_analytic_penalty_on_reals_and_on_fakes(
    values, on, known_d, tiny_config, make_trainer, monkeypatch
):
    calls = _recorded(monkeypatch)
    trainer = make_trainer(tiny_config("ring8", {"model.arch": known_d, **values}, steps=4))
    run_all(trainer)
    gamma = values[f"loss.{on}"]
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    for _, _, added, r1, r2 in calls:
        # gamma/2 * E||grad D||^2 on the reals (R1) or on the fakes (R2), never the other.
        expected = gamma / 2 * (r1 if on == "r1" else r2)
        assert added == pytest.approx(expected, rel=1e-5)
        assert not math.isclose(r1, r2, rel_tol=1e-3)


def test_lazy_interval_applies_every_nth_step_scaled_by_n(known_d, tiny_config, make_trainer, monkeypatch):
    calls = _recorded(monkeypatch)
    cfg = tiny_config("ring8", {"model.arch": known_d, "loss.r1": 2.0, "loss.r_every": 3}, steps=7)
    run_all(make_trainer(cfg))
    applied = [(step, added, r1) for step, _, added, r1, _ in calls if added is not None]
    assert [s for s, _, _ in applied] == [0, 3, 6]
    for _, added, r1 in applied:
        assert added == pytest.approx(3 * 2.0 / 2 * r1, rel=1e-5)
    assert penalties.due(cfg.loss, 4) == penalties.Due()
    assert penalties.due(cfg.loss, 6) == penalties.Due(r1=6.0, r2=0.0)


def test_rpgan_loss_values_on_known_logits():
    loss = make("rpgan")
    assert isinstance(loss, RpGAN) and loss.pairs and not loss.probabilistic
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 3.0])

    def sp(v: float) -> float:
        return math.log1p(math.exp(v))

    # D: softplus(-(D(x) - D(G(z)))) per pair; G: softplus(-(D(G(z)) - D(x))).
    assert loss.d_loss(real, fake).item() == pytest.approx((sp(-1.0) + sp(1.0)) / 2)
    assert loss.g_loss(fake, real).item() == pytest.approx((sp(1.0) + sp(-1.0)) / 2)
    assert loss.d_loss(torch.tensor([5.0]), torch.tensor([5.0])).item() == pytest.approx(math.log(2))


def test_rpgan_gives_g_the_current_d_scores_of_the_step_reals(tiny_config, make_trainer, monkeypatch):
    trainer = make_trainer(tiny_config("ring8", {"loss.kind": "rpgan"}, steps=3))
    seen = []
    original = trainer.loss.g_loss

    def spy(fake, real=None):
        seen.append(None if real is None else real.shape)
        return original(fake, real)

    monkeypatch.setattr(trainer.loss, "g_loss", spy)
    events = run_all(trainer)
    assert events[-1] == Finished(step=3, reason="completed")
    assert seen == [torch.Size([16])] * 3
    stats = of_type(events, Stats)
    assert all(math.isfinite(e.values["loss_g"]) for e in stats)
    assert stats[0].values["grad_g"] > 0  # G learns through its fakes' scores


@pytest.mark.parametrize(
    ("start", "edit"),
    [
        ({}, {"loss.r1": 5.0}),
        ({}, {"loss.r2": 5.0}),
        ({"loss.r1": 5.0, "loss.r_every": 4}, {"loss.r_every": 1}),
        ({}, {"loss.kind": "rpgan"}),
    ],
)
def test_each_is_live_editable_from_the_next_step(start, edit, tiny_config, make_trainer):
    cfg = tiny_config("ring8", start, steps=8)

    def losses_by_step(control_edit: dict | None) -> dict[int, tuple[float, float]]:
        trainer = make_trainer(cfg)
        control = Control()
        out = {}
        for ev in trainer.run(control):
            if isinstance(ev, Stats):
                out[ev.step] = (ev.values["loss_d"], ev.values["loss_g"])
                if ev.step == 4 and control_edit:
                    control.update_values(control_edit)
            if isinstance(ev, HyperparamsChanged):
                assert ev.step == 4 and set(ev.changes) == set(control_edit)
                assert trainer.cfg == with_values(cfg, control_edit)
        return out

    straight, edited = losses_by_step(None), losses_by_step(edit)
    assert straight[2] == edited[2] and straight[4] == edited[4]
    assert straight[6] != edited[6]


# --- spectral norm ---------------------------------------------------------------------------------


def _largest_singular_values(module: nn.Module) -> dict[str, float]:
    out = {}
    for name, m in module.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            w = m.weight.detach()
            if isinstance(m, nn.ConvTranspose2d):  # its output channels are dim 1
                w = w.transpose(0, 1)
            out[name] = torch.linalg.matrix_norm(w.flatten(1), ord=2).item()
    return out


@pytest.mark.parametrize("kind", ["ring8", "dcgan"])
def test_spectral_norm_makes_each_layer_largest_singular_value_one(kind, tiny_config):
    cfg = tiny_config(kind, {"model.spectral_norm": "both"})
    shape = dataset_for(cfg.data).shape
    _, plain_d = models.build(tiny_config(kind), shape)
    g, d = models.build(cfg, shape)
    assert any(abs(s - 1) > 0.2 for s in _largest_singular_values(plain_d).values())  # not already 1
    for _ in range(30):  # training forwards: one power iteration each
        g(torch.randn(4, cfg.model.latent_dim))
        d(torch.randn(4, *shape))
    for net in (g, d):
        sigmas = _largest_singular_values(net)
        assert sigmas and all(s == pytest.approx(1.0, abs=0.02) for s in sigmas.values()), sigmas
    only_d = models.build(tiny_config(kind, {"model.spectral_norm": "d"}), shape)
    assert not any(".parametrizations." in k for k in only_d[0].state_dict())
    assert any(".parametrizations." in k for k in only_d[1].state_dict())


def test_resume_is_bit_exact_with_every_stabiliser(tiny_config, make_trainer, tmp_path):
    values = {
        "model.spectral_norm": "both",
        "loss.kind": "rpgan",
        "loss.r1": 1.0,
        "loss.r2": 0.5,
        "loss.r_every": 2,
        "train.ema": 0.9,
    }
    cfg = tiny_config("dcgan", values, steps=7, every=2, checkpoint_every=3)
    straight = make_trainer(cfg, checkpoint_dir=tmp_path / "a")
    run_all(straight)
    resumed = Trainer.from_checkpoint(
        tmp_path / "a" / f"step-{3:09d}.pt", dataset=dataset_for(cfg.data), checkpoint_dir=tmp_path / "b"
    )
    events = run_all(resumed)
    assert events[0].step == 3 and events[-1] == Finished(step=7, reason="completed")
    assert any("_u" in k for k in straight.D.state_dict())
    assert_same(resumed.G.state_dict(), straight.G.state_dict(), "G")
    assert_same(resumed.D.state_dict(), straight.D.state_dict(), "D")
    assert_same(resumed.G_ema.state_dict(), straight.G_ema.state_dict(), "G_ema")
    assert resumed.history.series("loss_d")[-1] == straight.history.series("loss_d")[-1]


def test_your_own_model_file_ignores_spectral_norm(known_d, tiny_config, make_trainer):
    trainer = make_trainer(tiny_config("ring8", {"model.arch": known_d, "model.spectral_norm": "both"}))
    for net in (trainer.G, trainer.D):
        assert not any(".parametrizations." in k for k in net.state_dict())
    assert run_all(trainer)[-1] == Finished(step=6, reason="completed")


def test_grad_layer_names_of_a_spectral_normed_d_are_its_layers(tiny_config, make_trainer):
    trainer = make_trainer(tiny_config("ring8", {"model.spectral_norm": "d"}, steps=2))
    stats = of_type(run_all(trainer), Stats)[-1].values
    assert "grad_D.net.1" in stats and not any("parametrizations" in k for k in stats)


def test_config_keys_document_themselves():
    assert KEYS["loss.r1"].live and KEYS["loss.r2"].live and KEYS["loss.r_every"].live
    assert not KEYS["model.spectral_norm"].live
    assert "own model" in KEYS["model.spectral_norm"].help
    assert "rpgan" in KEYS["loss.kind"].choices


def test_ring8_minimax_r1_is_ring8_minimax_with_r1_and_trains(make_trainer):
    plain, r1 = presets.get("ring8-minimax"), presets.get("ring8-minimax-r1")
    assert r1.loss.r1 > 0 and with_values(r1, {"loss.r1": 0.0}) == plain
    quick = {"train.steps": 10, "train.threads": 1, "train.device": "cpu", "metrics.every": 0}
    quick.update({"log.sample_every": 0, "log.checkpoint_every": 0})
    events = run_all(make_trainer(with_values(r1, quick)))
    assert events[-1] == Finished(step=10, reason="completed")
