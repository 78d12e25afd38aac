"""model.conditional: G takes a class, D projects it; the grid, the metrics, sample --class and .npy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core.config import ConfigError, presets
from ganstudio.core.data.folder import load_folder
from ganstudio.core.metrics.evaluator import Evaluator
from ganstudio.core.models import conditional
from ganstudio.core.run.events import Finished
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import assert_same, dataset_for, run_all

COND = {"model.conditional": True}
# Trains a recognisable conditional G on the 8x8 digits in under a second on one CPU thread
# (batch 16, 300 steps; measured class_match 0.94, 0.85, 0.90, 0.60 for seeds 0-3; 0.1 is chance).
QUICK = {**COND, "model.width": 16, "model.latent_dim": 16, "optim.lr_g": 1e-3, "optim.lr_d": 1e-3}


def test_projection_d_is_psi_of_phi_plus_the_class_embedding_dot_phi(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", COND))
    d = t.D
    x = t.x[:5]
    y = torch.tensor([0, 1, 2, 3, 9])
    with torch.no_grad():
        phi = d.body(x)
        expected = d.head(phi).view(-1) + (d.embed(y) * phi).sum(1)
        assert torch.allclose(d(x, y), expected)
        assert not torch.allclose(d(x, y), d(x, torch.zeros_like(y)))  # the class changes the score
        # G: same z, another class, another image.
        z = torch.randn(2, 16)
        assert not torch.allclose(t.G(z, torch.tensor([0, 0])), t.G(z, torch.tensor([5, 5])))


def test_the_grid_has_one_row_per_class(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", COND, steps=1))
    grid = t.samples().grid
    assert grid.shape[:2] == (10 * 9 + 1, 8 * 9 + 1)  # 10 classes x 8 columns of 8 px, 1 px padding
    plain = make_trainer(tiny_config("digits", steps=1)).samples().grid
    assert plain.shape[:2] == (8 * 9 + 1, 8 * 9 + 1)


def test_toys_and_your_own_model_refuse_it(tiny_config):
    with pytest.raises(ConfigError, match="2D points with no classes; set model.conditional = false"):
        tiny_config("ring8", COND)
    with pytest.raises(ConfigError, match="built-in archs"):
        tiny_config("digits", {**COND, "model.arch": "examples/my_gan.py:build"})


def test_an_unlabelled_folder_says_how_to_label_it(tiny_config, tmp_path):
    for i in range(4):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / f"{i}.png")
    cfg = tiny_config("digits", {**COND, "data.dataset": "folder", "data.root": str(tmp_path)})
    with pytest.raises(ConfigError, match="put each class.s images in a subfolder of its own"):
        Trainer(cfg)


def test_a_folder_of_class_subfolders_is_labelled(tmp_path):
    for name, shade in (("cats", 20), ("dogs", 200), ("owls", 120)):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("L", (8, 8), shade + i).save(tmp_path / name / f"{i}.png")
    ds = load_folder(str(tmp_path), 1, 8)
    assert ds.num_classes == 3 and ds.labels.tolist() == [0, 0, 1, 1, 2, 2]
    Image.new("L", (8, 8), 0).save(tmp_path / "loose.png")  # an image outside any class
    assert load_folder(str(tmp_path), 1, 8).labels is None


def test_resume_is_bit_exact_with_conditional(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config("digits", {**COND, "data.holdout": 0.1}, steps=7, every=2, checkpoint_every=3)
    straight = make_trainer(cfg, checkpoint_dir=tmp_path / "a")
    run_all(straight)
    resumed = Trainer.from_checkpoint(
        tmp_path / "a" / f"step-{3:09d}.pt", dataset=dataset_for(cfg.data), checkpoint_dir=tmp_path / "b"
    )
    assert run_all(resumed)[-1] == Finished(step=7, reason="completed")
    assert_same(resumed.G.state_dict(), straight.G.state_dict(), "G")
    assert_same(resumed.D.state_dict(), straight.D.state_dict(), "D")
    assert resumed.history.series("loss_d")[-1] == straight.history.series("loss_d")[-1]


@pytest.mark.parametrize("loss", ["wgan-gp", "rpgan"])
def test_the_losses_that_call_d_again_get_the_labels(loss, tiny_config, make_trainer):
    cfg = tiny_config("digits", {**COND, "loss.kind": loss, "loss.r1": 1.0}, steps=2)
    assert run_all(make_trainer(cfg))[-1] == Finished(step=2, reason="completed")


def test_conditional_digits_give_the_asked_class(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", QUICK, steps=300, seed=0))
    for _ in range(300):
        t.train_step()
    ev = Evaluator(t.cfg, t.data, bootstrap=2)
    z = torch.randn(500, 16, generator=torch.Generator().manual_seed(9))
    values = ev.evaluate(t.sampling_generator, z)
    assert values["class_match"] > 0.8, values  # 0.1 is chance
    assert values["classes_covered"] >= 8
    # Unconditional runs report no asked class.
    assert "class_match" not in Evaluator(tiny_config("digits"), t.data).keys


def test_the_preset_is_conditional():
    assert presets.get("digits-conditional").model.conditional


@pytest.fixture
def checkpoint(tiny_config, make_trainer, tmp_path):
    def make(values: dict, kind: str = "digits"):
        t = make_trainer(tiny_config(kind, values))
        t.train_step()
        path = tmp_path / f"{kind}.pt"
        t.save_checkpoint(path)
        return path, t

    return make


def test_sample_class_k_and_npy(checkpoint, tmp_path, capsys):
    ckpt, t = checkpoint(COND)
    out = tmp_path / "sevens.npy"
    assert main(["sample", str(ckpt), "--n", "6", "--class", "7", "--out", str(out)]) == EXIT_OK
    x = np.load(out)
    assert x.shape == (6, 1, 8, 8) and x.dtype == np.float32
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_array_equal(x, t.G.eval()(z, torch.full((6,), 7)).numpy())
    png = tmp_path / "all.png"
    assert main(["sample", str(ckpt), "--n", "20", "--out", str(png)]) == EXIT_OK and png.exists()
    assert main(["sample", str(ckpt), "--class", "10", "--out", str(png)]) == EXIT_BAD_INPUT
    assert "classes 0 to 9" in capsys.readouterr().err


def test_npy_for_an_unconditional_model_and_no_class(checkpoint, tmp_path, capsys):
    ckpt, t = checkpoint({})
    out = tmp_path / "raw.npy"
    assert main(["sample", str(ckpt), "--n", "5", "--out", str(out)]) == EXIT_OK
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_array_equal(np.load(out), t.G.eval()(z).numpy())
    assert main(["sample", str(ckpt), "--class", "1", "--out", str(out)]) == EXIT_BAD_INPUT
    assert "not a conditional model" in capsys.readouterr().err


def test_classes_are_read_from_the_weights(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", COND))
    assert conditional.classes_in(t.G.state_dict()) == 10
    assert conditional.classes_in(make_trainer(tiny_config("digits")).G.state_dict()) is None


def test_the_latent_explorer_draws_the_picked_class(tiny_config, make_trainer, tmp_path):
    from ganstudio.core import latent

    t = make_trainer(tiny_config("digits", COND))
    t.train_step()
    path = tmp_path / "c.pt"
    t.save_checkpoint(path)
    for weights in (latent.weights_of(t), latent.weights_from_checkpoint(path)):
        ex = latent.Explorer(weights)
        assert ex.num_classes == 10 and ex.label == 0
        z = ex.fixed_noise[:4]
        zeros = ex.generate(z)
        ex.label = 3  # same z, another class
        assert not torch.equal(zeros, ex.generate(z)) and ex.grid().shape == (73, 73, 1)
        with torch.no_grad():
            expected = ex.sampling(z, torch.full((4,), 3))
        assert torch.equal(ex.generate(z), expected)
    assert latent.Explorer(latent.weights_of(make_trainer(tiny_config("digits")))).num_classes is None
