"""Differentiable augmentation (data.augment, data.augment_p): each op changes what it should, it
is differentiable and applied to the reals and the fakes alike, ADA's "auto" p follows r_t, and a
run with it resumes bit-exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganstudio.core.config import ConfigError, presets, with_values
from ganstudio.core.config.validate import validate
from ganstudio.core.run.events import Finished, HyperparamsChanged, Samples, Stats
from ganstudio.core.train import augment
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import dataset_for, of_type, run_all
from tests.core.test_checkpoints import assert_same

ALL = "color,translation,cutout"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_gan.py"


def test_translation_shifts_each_image_and_fills_with_zeros():
    x = torch.zeros(2, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0
    out = augment.translate(x, torch.tensor([[2 / 16, -1 / 16], [0.0, 0.0]]))
    assert out[0, 0, 10, 7] == 1.0 and out[0].sum() == 1.0  # 2 rows down, 1 column left
    assert torch.equal(out[1], x[1])
    edge = augment.translate(torch.ones(1, 1, 16, 16), torch.tensor([[0.125, 0.0]]))
    assert edge[0, 0, :2].abs().sum() == 0 and edge[0, 0, 2:].min() == 1.0


def test_cutout_zeros_a_square_of_half_the_side_where_chosen():
    x = torch.ones(2, 3, 16, 16)
    out = augment.cutout(x, torch.tensor([1.0, 0.0]), torch.tensor([[0.5, 0.5], [0.5, 0.5]]))
    zero = out[0, 0] == 0
    rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
    assert zero.sum() == 64 and len(rows) == 8 and len(cols) == 8  # one 8x8 square, in every channel
    assert torch.equal(out[0, 0] == 0, out[0, 2] == 0) and torch.equal(out[1], x[1])


def test_color_changes_brightness_saturation_and_contrast():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    one = torch.ones(4, 1, 1, 1)
    assert torch.allclose(augment.color(x, one * 1.25, one, one), x + 0.25)
    grey = augment.color(x, one, one * 0, one)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    flat = augment.color(x, one, one, one * 0.5)
    assert torch.allclose(flat.std(dim=(1, 2, 3)), x.std(dim=(1, 2, 3)) * 0.5, atol=1e-6)
    assert torch.allclose(augment.color(x, one, one, one), x)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_p_is_the_chance_each_op_is_applied(p):
    x = torch.rand(64, 3, 16, 16) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    out = augment.augment(x, ("color", "translation", "cutout"), p, gen, 64, slice(None))
    changed = (out - x).flatten(1).abs().amax(1) > 1e-5  # p = 0: the same, up to rounding
    assert changed.all() if p == 1 else not changed.any()


def test_augmentation_is_differentiable():
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = augment.augment(
        x, ("color", "translation", "cutout"), 1.0, torch.Generator().manual_seed(1), 8, slice(None)
    )
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_applied_to_reals_and_fakes_and_g_learns_through_it(tiny_config, make_trainer, monkeypatch):
    t = make_trainer(tiny_config("dcgan", {"data.augment": ALL}, steps=1))
    seen, outputs = [], []
    real_aug = t.augment.__call__

    def spy(x):
        out = real_aug(x)
        outputs.append((x, out))
        return out

    monkeypatch.setattr(t, "augment", spy)
    d_forward = t.D.forward
    monkeypatch.setattr(t.D, "forward", lambda x: (seen.append(x), d_forward(x))[1])
    t.train_step()
    (real_in, real_out), (fake_in, fake_out) = outputs
    assert real_in.grad_fn is None and fake_in.grad_fn is not None  # reals, then G's fakes
    assert not torch.equal(real_in, real_out) and not torch.equal(fake_in.detach(), fake_out.detach())
    ptrs = {x.data_ptr() for x in seen}
    assert real_out.data_ptr() in ptrs and fake_out.data_ptr() in ptrs  # D saw both augmented
    grads = [p.grad for p in t.G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(
        g.abs().sum() > 0 for g in grads
    )


def test_ada_rule_raises_p_while_rt_is_above_target_and_lowers_it_otherwise():
    p, images = 0.0, 64 * 1000
    ups = []
    for rt in [0.9, 0.8, 0.7, 0.65, 0.9]:  # a memorising D
        p = augment.ada_step(p, rt, images)
        ups.append(p)
    assert ups == sorted(ups) and ups[0] > 0
    downs = []
    for rt in [0.2, 0.5, 0.6, 0.0]:  # 0.6 itself is not above the target
        p = augment.ada_step(p, rt, images)
        downs.append(p)
    assert downs == sorted(downs, reverse=True) and downs[-1] < ups[-1]
    assert augment.ada_step(0.0, 0.1, images) == 0.0 and augment.ada_step(1.0, 0.9, images) == 1.0


def test_auto_p_follows_the_stats_r_t_and_a_fixed_p_stays(tiny_config, make_trainer):
    t = make_trainer(tiny_config("dcgan", {"data.augment": ALL, "data.augment_p": "auto"}))
    assert t.augment.p == 0.0
    rising = [t.augment.observe({"d_overfit_rt": 0.9})["augment_p"] for _ in range(3)]
    assert rising == sorted(rising) and rising[0] > 0
    assert t.augment.observe({})["augment_p"] == rising[-1]  # no r_t this interval: p stays
    falling = [t.augment.observe({"d_overfit_rt": 0.1})["augment_p"] for _ in range(2)]
    assert falling[0] < rising[-1] and falling[1] < falling[0]
    t.apply_config({"data.augment_p": "0.3"})
    assert t.augment.observe({"d_overfit_rt": 0.9}) == {"augment_p": 0.3}
    t.apply_config({"data.augment_p": "auto"})  # auto goes on from the last p
    assert t.augment.observe({"d_overfit_rt": 0.9})["augment_p"] > 0.3


def test_p_is_logged_each_stats_line_and_reals_are_previewed(tiny_config, make_trainer):
    cfg = tiny_config(
        "dcgan", {"data.augment": ALL, "data.augment_p": "0.5"}, steps=4, every=2, sample_every=2
    )
    events = run_all(make_trainer(cfg))
    assert [s.values["augment_p"] for s in of_type(events, Stats)] == [0.5, 0.5]
    samples = of_type(events, Samples)
    assert samples and all(s.augmented is not None and s.augmented.shape == s.grid.shape for s in samples)
    plain = run_all(make_trainer(tiny_config("dcgan", steps=2, every=2)))
    assert "augment_p" not in of_type(plain, Stats)[-1].values
    assert all(s.augmented is None for s in of_type(plain, Samples))


def test_live_edit_switches_it_on_from_the_next_step(tiny_config, make_trainer):
    t = make_trainer(tiny_config("dcgan", steps=2))
    ev = t.apply_config({"data.augment": "translation", "data.augment_p": "auto"})
    assert isinstance(ev, HyperparamsChanged) and set(ev.changes) == {"data.augment", "data.augment_p"}
    x = torch.rand(t.cfg.train.batch_size, 1, 16, 16)  # a batch, as the step gives it
    assert t.augment(x) is x  # auto starts at p = 0
    t.augment.p = 1.0
    assert not torch.equal(t.augment(x), x)


def test_resume_is_bit_exact_with_augmentation_and_auto_p(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config(
        "dcgan", {"data.augment": ALL, "data.augment_p": "auto"}, steps=7, every=2, checkpoint_every=3
    )
    straight = make_trainer(cfg, checkpoint_dir=tmp_path / "a")
    straight.augment.p = 0.5  # as if ADA had raised it: every op is drawn from the first step
    run_all(straight)
    resumed = Trainer.from_checkpoint(
        tmp_path / "a" / f"step-{3:09d}.pt", dataset=dataset_for(cfg.data), checkpoint_dir=tmp_path / "b"
    )
    assert 0.5 < resumed.augment.p < 0.51  # ADA's p was saved in the checkpoint
    events = run_all(resumed)
    assert events[-1] == Finished(step=7, reason="completed")
    assert_same(resumed.G.state_dict(), straight.G.state_dict(), "G")
    assert_same(resumed.D.state_dict(), straight.D.state_dict(), "D")
    assert resumed.augment.p == straight.augment.p
    assert resumed.history.series("loss_d")[-1] == straight.history.series("loss_d")[-1]


def test_your_own_model_file_trains_with_it(tiny_config, make_trainer):
    cfg = tiny_config("digits", {"model.arch": f"{EXAMPLE}:build", "data.augment": ALL}, steps=2)
    events = run_all(make_trainer(cfg))
    assert events[-1] == Finished(step=2, reason="completed")


def test_validation_says_what_to_do(tiny_config):
    with pytest.raises(ConfigError, match="2D points; set data.augment = 'off'"):
        tiny_config("ring8", {"data.augment": "color"})
    with pytest.raises(ConfigError, match="'colour' is not an augmentation"):
        tiny_config("dcgan", {"data.augment": "colour"})
    with pytest.raises(ConfigError, match="neither 'auto' nor a number from 0 to 1"):
        tiny_config("dcgan", {"data.augment": "color", "data.augment_p": "1.5"})
    with pytest.raises(ConfigError, match="set data.holdout above 0"):
        tiny_config("dcgan", {"data.augment": "color", "data.augment_p": "auto", "data.holdout": 0.0})
    assert tiny_config("ring8", {"data.augment": "off"}).data.augment == "off"


def test_folder_small_augment_preset_trains_on_a_folder(tmp_path, make_trainer):
    from PIL import Image

    for i in range(40):
        Image.new("RGB", (40, 40), (i * 6, 255 - i * 6, 128)).save(tmp_path / f"{i}.png")
    cfg = presets.get("folder-small-augment")
    assert cfg.data.dataset == "folder" and cfg.data.augment == ALL
    quick = {"data.root": str(tmp_path), "train.steps": 2, "train.batch_size": 16, "model.width": 8}
    quick.update({"train.device": "cpu", "train.threads": 1, "metrics.every": 0, "log.checkpoint_every": 0})
    events = run_all(make_trainer(validate(with_values(cfg, quick))))
    assert events[-1] == Finished(step=2, reason="completed")
