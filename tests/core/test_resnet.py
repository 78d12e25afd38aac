"""model.arch = "resnet": R3GAN-style residual G and D, their init, training, resume and preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganstudio.core import latent, models
from ganstudio.core.config import ARCHS, KEYS, Config, ConfigError, presets, validate, with_values
from ganstudio.core.config.arch import IMAGE_SIZES
from ganstudio.core.config.keys import run_name
from ganstudio.core.data import DataError, load_dataset
from ganstudio.core.metrics.background import cpu_generator
from ganstudio.core.models import resnet
from ganstudio.core.run.events import Finished, Stats
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import assert_same, dataset_for, new_trainer, of_type, run_all
from tests.core.fake_torchvision import accept_fake_cifar10, write_fake_cifar10

# The digits upscaled: the smallest resnet and size that still has every layer kind.
TINY = {"model.arch": "resnet", "data.image_size": 16, "model.width": 8, "model.latent_dim": 16}
# R3GAN's objective: the relativistic pairing loss with both zero-centred penalties.
R3GAN_LOSS = {"loss.kind": "rpgan", "loss.r1": 0.1, "loss.r2": 0.1}


def _cfg(values: dict) -> Config:
    return validate(with_values(Config(), values))


@pytest.mark.parametrize("size", IMAGE_SIZES["resnet"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_range(size, channels):
    cfg = _cfg({**TINY, "data.dataset": "mnist", "data.image_size": size, "data.channels": channels})
    shape = (channels, size, size)
    g, d = models.build(cfg, shape)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, *shape) and x.dtype == torch.float32 and x.abs().max() <= 1.0
    scores = d(x)
    assert scores.shape == (3,) and torch.isfinite(scores).all()
    assert d(torch.randn(5, *shape)).shape == (5,)
    assert g.eval()(torch.randn(1, 16)).shape == (1, *shape)
    # Two blocks at 4x4 and two at each resolution above it, in G and in D alike.
    n_blocks = 2 * (resnet.stages(size) + 1)
    for net in (g, d):
        assert sum(isinstance(m, resnet.Block) for m in net.modules()) == n_blocks
        assert not any(isinstance(m, (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)) for m in net.modules())


def test_resnet_is_a_built_in_everywhere():
    assert "resnet" in ARCHS and "resnet" in models.REGISTRY and "resnet" in KEYS["model.arch"].choices
    assert run_name(_cfg(TINY)) == "digits-resnet-nonsaturating"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"data.image_size": 28}, "needs data.image_size in 16, 32, 64"),
        ({"data.image_size": 0}, "digits would be 8x8"),
        ({"data.dataset": "ring8", "data.image_size": 0}, "needs images"),
    ],
)
def test_sizes_it_cannot_make_are_refused_by_name(values, words):
    with pytest.raises(ConfigError) as e:
        _cfg({**TINY, **values})
    assert "model.arch = 'resnet'" in str(e.value) and words in str(e.value)
    with pytest.raises(ValueError, match="24x24"):
        resnet.stages(24)


def test_each_block_is_the_identity_at_init():
    torch.manual_seed(0)
    block = resnet.Block(16, n_blocks=8)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(x), x)
    assert torch.count_nonzero(block.narrow.weight) == 0
    # The inner layers are He-initialised for a leaky ReLU, scaled by n_blocks^(-1/4) (R3GAN's
    # variance scaling), and the 3x3 convolution is grouped.
    fan_in = block.mix.weight[0].numel()
    expected = resnet.LEAK_GAIN * 8 ** (-1 / 4) / fan_in**0.5
    assert block.mix.weight.std().item() == pytest.approx(expected, rel=0.1)
    assert block.mix.groups == 32 // 16
    # Built through the registry, the blocks keep that init (the DCGAN init is not applied).
    g, d = models.build(_cfg({**TINY, "data.image_size": 32, "model.width": 16}), (1, 32, 32))
    for net in (g, d):
        blocks = [m for m in net.modules() if isinstance(m, resnet.Block)]
        assert blocks and all(torch.count_nonzero(b.narrow.weight) == 0 for b in blocks)


def test_spectral_norm_applies_to_resnet(tiny_config):
    cfg = tiny_config("digits", {**TINY, **R3GAN_LOSS, "model.spectral_norm": "both"})
    shape = dataset_for(cfg.data).shape
    g, d = models.build(cfg, shape)
    for net in (g, d):
        convs = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        assert convs and all(nn.utils.parametrize.is_parametrized(m) for m in convs)
    for _ in range(30):  # training forwards: one power iteration each
        x = g(torch.randn(4, 16))
        assert torch.isfinite(x).all() and torch.isfinite(d(x)).all()
    for m in [m for net in (g, d) for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.02)
    only_d = models.build(tiny_config("digits", {**TINY, "model.spectral_norm": "d"}), shape)
    assert not any(".parametrizations." in k for k in only_d[0].state_dict())
    assert any(".parametrizations." in k for k in only_d[1].state_dict())


def test_trains_on_digits_with_rpgan_r1_and_r2(tiny_config, make_trainer):
    cfg = tiny_config("digits", {**TINY, **R3GAN_LOSS, "data.image_size": 32}, steps=4)
    events = run_all(make_trainer(cfg))
    assert events[-1] == Finished(step=4, reason="completed")
    values = of_type(events, Stats)[-1].values
    assert np.isfinite(values["loss_d"]) and np.isfinite(values["loss_g"])


def test_resume_is_bit_exact(tiny_config, make_trainer, tmp_path):
    values = {**TINY, **R3GAN_LOSS, "model.spectral_norm": "d", "loss.r_every": 2, "train.ema": 0.9}
    cfg = tiny_config("digits", values, steps=5, every=1, checkpoint_every=2)
    straight = make_trainer(cfg, checkpoint_dir=tmp_path / "a")
    run_all(straight)
    resumed = Trainer.from_checkpoint(
        tmp_path / "a" / f"step-{2:09d}.pt", dataset=dataset_for(cfg.data), checkpoint_dir=tmp_path / "b"
    )
    assert run_all(resumed)[-1] == Finished(step=5, reason="completed")
    assert_same(resumed.G.state_dict(), straight.G.state_dict(), "G")
    assert_same(resumed.D.state_dict(), straight.D.state_dict(), "D")
    assert_same(resumed.G_ema.state_dict(), straight.G_ema.state_dict(), "G_ema")


def test_latent_explorer_and_metrics_rebuild_it(tiny_config):
    t = new_trainer(tiny_config("digits", TINY, steps=2))
    run_all(t)
    assert np.array_equal(latent.Explorer(latent.weights_of(t)).grid(), t.samples().grid)
    g = cpu_generator(t.cfg, t.data.shape)
    g.load_state_dict(t.G.state_dict())
    z = torch.randn(3, 16)
    assert torch.equal(g.eval()(z), t.G.eval()(z))


def test_cifar10_r3gan_preset_trains_and_says_when_its_files_are_missing(tmp_path):
    cfg = presets.get("cifar10-r3gan")
    assert (cfg.data.dataset, cfg.model.arch, cfg.loss.kind) == ("cifar10", "resnet", "rpgan")
    assert cfg.loss.r1 > 0 and cfg.loss.r2 > 0 and cfg.model.spectral_norm == "off"
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        load_dataset(with_values(cfg, {"data.root": str(tmp_path)}).data, download=False)
    write_fake_cifar10(tmp_path, n=20)
    quick = {"data.root": str(tmp_path), "model.width": 8, "train.batch_size": 4, "train.steps": 2}
    quick.update({"train.threads": 1, "train.device": "cpu", "metrics.every": 0, "data.holdout": 0.0})
    quick.update({"log.sample_every": 0, "log.checkpoint_every": 0})
    small = validate(with_values(cfg, quick))
    with accept_fake_cifar10(tmp_path):
        dataset = load_dataset(small.data, download=False)
    events = run_all(Trainer(small, dataset=dataset))
    assert events[-1] == Finished(step=2, reason="completed")
