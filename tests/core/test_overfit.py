"""The discriminator's overfitting: held-out reals (data.holdout), D's outputs and accuracies on
them against training reals and fakes, r_t, the d_overfit alert; and per-layer gradient norms."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import ConfigError
from ganstudio.core.data import Dataset
from ganstudio.core.run.events import Alert, Stats
from ganstudio.core.train.batches import HOLDOUT_MAX_IMAGES, holdout_split
from ganstudio.core.train.trainer import OVERFIT_KEYS, Trainer
from tests.core.conftest import dataset_for, make_tiny_config, new_trainer, of_type, run_all


def test_the_holdout_is_disjoint_deterministic_and_sized():
    cfg = make_tiny_config("digits")
    data = dataset_for(cfg.data)
    held = holdout_split(data, cfg)
    assert len(held) == round(0.05 * len(data)) == 90
    assert torch.equal(held, holdout_split(data, cfg))  # the same seed, the same images
    other = holdout_split(data, make_tiny_config("digits", seed=1))
    assert not torch.equal(held, other)
    t = new_trainer(cfg)
    assert t.sampler.n == len(data) - 90 and len(t.x_holdout) == 90
    kept = torch.ones(len(data), dtype=torch.bool)
    kept[held] = False
    assert torch.equal(t.x.cpu(), data.x[kept]) and torch.equal(t.x_holdout.cpu(), data.x[held])  # disjoint
    assert len(holdout_split(data, make_tiny_config("digits", {"data.holdout": 0.0}))) == 0
    ring = make_tiny_config("ring8")
    assert len(holdout_split(dataset_for(ring.data), ring)) == 0  # the 2D toys need none


def test_a_large_set_is_not_held_out():
    x = torch.zeros(HOLDOUT_MAX_IMAGES, 1, 8, 8)
    big = Dataset(x=x, labels=torch.zeros(HOLDOUT_MAX_IMAGES, dtype=torch.int64), num_classes=10, name="big")
    assert len(holdout_split(big, make_tiny_config("digits"))) == 0


def test_a_holdout_that_leaves_less_than_a_batch_is_refused():
    cfg = make_tiny_config("digits", {"data.holdout": 0.5}, batch_size=1000)
    with pytest.raises(ConfigError) as info:
        new_trainer(cfg)
    (msg,) = info.value.problems
    assert "data.holdout = 0.5 leaves 899 of the 1797 images" in msg and "train.batch_size = 1000" in msg


def test_the_split_is_in_the_checkpoint_and_resumed_exactly(tmp_path):
    cfg = make_tiny_config("digits", steps=4)
    t = new_trainer(cfg)
    run_all(t)
    path = tmp_path / "c.pt"
    t.save_checkpoint(path)
    ck = checkpoints.load(path)
    assert torch.equal(ck["holdout"], t.holdout_index)
    resumed = Trainer.from_checkpoint(path, dataset=t.data)
    assert torch.equal(resumed.holdout_index, t.holdout_index) and torch.equal(resumed.x, t.x)
    # A checkpoint from before holdouts trained on every image, and goes on doing so.
    old = {k: v for k, v in ck.items() if k not in ("holdout", "digest", "verified", "config_obj")}
    old_path = tmp_path / "old.pt"
    sampler = {**old["sampler"], "perm": torch.randperm(len(t.data))}
    epoch = sampler["epochs_done"] + sampler["pos"] / len(t.data)
    checkpoints.save_atomic({**old, "sampler": sampler, "epoch": epoch}, old_path)
    legacy = Trainer.from_checkpoint(old_path, dataset=t.data)
    assert len(legacy.holdout_index) == 0 and legacy.sampler.n == len(t.data) and legacy.x_holdout is None
    # A holdout that is not this data's is refused by name.
    bad = tmp_path / "bad.pt"
    checkpoints.save_atomic({**old, "sampler": sampler, "epoch": epoch, "holdout": torch.tensor([5, 3])}, bad)
    with pytest.raises(checkpoints.CheckpointError, match="holdout does not list distinct image indices"):
        Trainer.from_checkpoint(bad, dataset=t.data)


class _Constant(nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = value
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full((x.shape[0],), self.value) + 0 * self.w


@pytest.mark.parametrize(("loss", "edge"), [("nonsaturating", 0.0), ("lsgan", 0.5), ("wgan-gp", 0.0)])
def test_accuracies_and_r_t_of_a_constructed_discriminator(loss, edge):
    t = new_trainer(make_tiny_config("digits", {"loss.kind": loss}))
    t.D = _Constant(edge + 2.0)  # every held-out real looks real
    real = torch.tensor([2.0, -1.0, 3.0, -4.0]) + edge
    fake = torch.tensor([-1.0, -2.0, 1.0, -3.0]) + edge
    values = dict(zip(OVERFIT_KEYS, t._overfit_stats(real, fake).tolist(), strict=True))
    assert values["holdout_acc_train"] == 0.5  # 2 of 4 above the edge
    assert values["holdout_acc_heldout"] == 1.0
    assert values["holdout_acc_fake"] == 0.75  # 3 of 4 at or below it
    assert values["d_overfit_rt"] == 0.0  # E[sign]: two +, two -
    out = t.loss.d_output
    assert values["holdout_d_train"] == pytest.approx(float(out(real).mean()))
    assert values["holdout_d_heldout"] == pytest.approx(float(out(torch.tensor([edge + 2.0]))))
    assert values["holdout_d_fake"] == pytest.approx(float(out(fake).mean()))


def test_stats_carry_the_holdout_and_each_layers_gradient_norm():
    t = new_trainer(make_tiny_config("digits", steps=4, every=2))
    stats = of_type(run_all(t), Stats)
    v = stats[-1].values
    assert set(OVERFIT_KEYS) <= set(v) and all(0 <= v[k] <= 1 for k in OVERFIT_KEYS if "acc" in k)
    for net, total in (("D", v["grad_d"]), ("G", v["grad_g"])):
        layers = {k: x for k, x in v.items() if k.startswith(f"grad_{net}.")}
        assert set(layers) == {
            f"grad_{net}.{name.rsplit('.', 1)[0]}" for name, _ in getattr(t, net).named_parameters()
        }
        # The layers' norms make up the whole gradient's.
        assert math.sqrt(sum(x * x for x in layers.values())) == pytest.approx(total, rel=1e-5)


def test_d_overfit_fires_on_a_tiny_set_with_a_large_d():
    """128 digits, a quarter held out, a wide D at a high learning rate: D memorises the 96 it sees
    within ~1,500 steps (the healthy default run raises nothing: test_health)."""
    cfg = make_tiny_config(
        "digits",
        {"model.width": 128, "model.latent_dim": 100, "optim.lr_d": 1e-3, "data.holdout": 0.25},
        steps=2500,
        every=10,
        batch_size=64,
    )
    base = dataset_for(cfg.data)
    tiny = Dataset(x=base.x[:128].clone(), labels=base.labels[:128].clone(), num_classes=10, name="tiny")
    t = Trainer(cfg, dataset=tiny)
    alerts = []
    for ev in t.run():
        if isinstance(ev, Alert) and ev.kind == "d_overfit":
            alerts.append(ev)
            break
    assert alerts, "no d_overfit alert"
    (alert,) = alerts
    assert alert.evidence["gap"] > cfg.health.overfit_gap and alert.evidence["intervals"] >= 20
    assert "memorising" in alert.message and "optim.d_steps" in alert.message
