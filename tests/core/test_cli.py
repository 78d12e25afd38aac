"""ganstudio.cli: train, sample, presets and config, in-process through main() and as a real command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import Config, from_toml, load, presets, to_toml, with_values
from ganstudio.core.image import to_grid
from ganstudio.core.run.log import read_metrics
from tests.core.conftest import tiny_cli

# Every in-process `train` call runs tiny and on one CPU thread.
TINY = tiny_cli({"metrics.every": 0})


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []


# --- train ----------------------------------------------------------------------------------------------


def test_train_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(
        [
            "train",
            "--steps",
            "4",
            "--out",
            str(out),
            "--set",
            "optim.lr_g=1e-3",
            "--set",
            "log.sample_every=2",
            *TINY,
        ]
    )
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    (run_dir,) = run_dirs(out)
    assert f"completed at step 4; run folder: {run_dir}" in captured.out
    assert f"latest checkpoint: {run_dir / 'checkpoints' / 'latest.pt'}" in captured.out
    assert f"run folder: {run_dir}" in captured.err  # the start line
    ck = checkpoints.load(run_dir / "checkpoints" / "latest.pt")
    cfg = checkpoints.config_of(ck)
    assert ck["step"] == 4 and cfg.optim.lr_g == 1e-3 and cfg.train.steps == 4 and cfg.log.out == str(out)
    assert load(run_dir / "config.toml") == cfg
    records = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records if r["event"] == "stats"] == [2, 4]
    assert records[-1] == {"event": "finished", "step": 4, "reason": "completed"}
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "step-000000000.png",
        "step-000000002.png",
        "step-000000004.png",
    ]


def test_train_from_a_config_file_and_a_preset(tmp_path, capsys):
    cfg = with_values(
        presets.get("ring8"),
        {
            "train.steps": 3,
            "train.threads": 1,
            "train.device": "cpu",
            "train.batch_size": 8,
            "model.width": 8,
            "log.out": str(tmp_path / "a"),
            "metrics.every": 0,
        },
    )
    (tmp_path / "ring.toml").write_text(to_toml(cfg))
    assert main(["train", "--config", str(tmp_path / "ring.toml"), "--quiet"]) == EXIT_OK
    (run_dir,) = run_dirs(tmp_path / "a")
    assert load(run_dir / "config.toml") == cfg
    code = main(["train", "--preset", "ring8", "--steps", "2", "--out", str(tmp_path / "b"), *TINY])
    assert code == EXIT_OK
    (run_dir,) = run_dirs(tmp_path / "b")
    saved = load(run_dir / "config.toml")
    assert saved.data.dataset == "ring8" and saved.optim.lr_g == presets.get("ring8").optim.lr_g
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "optim.lr=1e-3"], ["unknown key 'optim.lr'", "optim.lr_g"]),
        (["--set", "optim.lr_g=fast"], ["optim.lr_g", "'fast'", "a number"]),
        (["--set", "train.batch_size=0"], ["train.batch_size = 0 is too small"]),
        (["--set", "model.arch=dcgan"], ["model.arch = 'dcgan' needs data.image_size"]),
        (["--set", "optim.lr_g"], ["expected key=value"]),
        (["--steps", "0"], ["train.steps = 0 is too small"]),
        (["--set", "train.batch_size=5000"], ["train.batch_size = 5000 is larger than the dataset"]),
        (["--preset", "nope"], ["unknown preset 'nope'", "ring8"]),
        (["--preset", "ring8", "--config", "x.toml"], ["either --config or --preset"]),
    ],
)
def test_train_refuses_bad_input(args, words, tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(["train", "--out", str(out), "--set", "train.threads=1", "--set", "train.device=cpu", *args])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert err.startswith("ganstudio: error: ")
    for w in words:
        assert w in err, (w, err)
    assert "Traceback" not in err
    assert run_dirs(out) == []  # a refused run leaves no empty run folder behind


def test_train_missing_config_file(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    assert main(["train", "--config", str(missing)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"config file {missing} does not exist" in err


def test_train_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlr_g = 'fast'\n[trainer]\n")
    assert main(["train", "--config", str(bad)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{bad}: unknown section [trainer]" in err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n", b"PK\x03\x04truncated zip"])
def test_train_resume_of_a_corrupt_file(tmp_path, capsys, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    code = main(["train", "--resume", str(bad), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert str(bad) in err and "not a readable checkpoint" in err and "Traceback" not in err
    assert run_dirs(tmp_path / "runs") == []


def test_train_resume_continues_a_run(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--steps", "3", "--out", str(out), *TINY]) == EXIT_OK
    (first,) = run_dirs(out)
    latest = first / "checkpoints" / "latest.pt"
    assert main(["train", "--resume", str(latest), "--steps", "5", "--out", str(out), "--quiet"]) == EXIT_OK
    second = next(d for d in run_dirs(out) if d != first)
    assert checkpoints.load(second / "checkpoints" / "latest.pt")["step"] == 5
    records = read_metrics(second / "metrics.jsonl")
    assert [r["step"] for r in records if r["event"] == "stats"] == [2, 3, 4, 5]  # replayed, then new
    # A key the checkpoint fixes cannot change on resume.
    assert main(["train", "--resume", str(latest), "--set", "model.latent_dim=8"]) == EXIT_BAD_INPUT
    assert "model.latent_dim" in capsys.readouterr().err
    assert run_dirs(out) == [first, second]


def test_train_nan_exits_with_failure_and_keeps_good_checkpoints(tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(
        [
            "train",
            "--steps",
            "50",
            "--out",
            str(out),
            "--set",
            "data.dataset=ring8",
            "--set",
            "loss.kind=lsgan",
            "--set",
            "optim.lr_g=10",
            "--set",
            "optim.lr_d=10",
            "--set",
            "log.checkpoint_every=1",
            *TINY,
            "--set",
            "model.width=128",
            "--set",
            "model.latent_dim=8",
            "--set",
            "log.every=1",
            "--set",
            "train.seed=0",
        ]
    )
    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    m = re.search(r"error: loss_\w.* became NaN or infinite by step (\d+)", captured.err)
    assert m, captured.err
    nan_step = int(m.group(1))
    assert f"stopped at step {nan_step}" in captured.out
    (run_dir,) = run_dirs(out)
    ck = checkpoints.load(run_dir / "checkpoints" / "latest.pt")
    assert ck["step"] == nan_step - 1  # the last good one, saved the step before
    assert all(torch.isfinite(v).all() for v in ck["models"]["G"].values())


# --- sample ------------------------------------------------------------------------------------------------


@pytest.fixture
def make_checkpoint(tiny_config, make_trainer, tmp_path):
    def make(kind: str, values: dict | None = None, steps: int = 2) -> tuple[Path, object]:
        t = make_trainer(tiny_config(kind, values))
        for _ in range(steps):
            t.train_step()
        path = tmp_path / f"{kind}.pt"
        t.save_checkpoint(path)
        return path, t

    return make


@pytest.mark.parametrize(
    ("kind", "values", "n", "size", "mode"),
    [
        ("digits", {}, 16, (37, 37), "L"),  # 4 x 4 images of 8 px with 1 px padding
        ("digits", {}, 10, (28, 37), "L"),  # 3 columns, 4 rows
        ("digits", {"data.channels": 3, "data.image_size": 12}, 4, (27, 27), "RGB"),
        ("dcgan", {}, 9, (52, 52), "L"),
    ],
)
def test_sample_writes_a_png(kind, values, n, size, mode, make_checkpoint, tmp_path, capsys):
    ckpt, _ = make_checkpoint(kind, values)
    target = tmp_path / "out" / "x.png"
    assert main(["sample", str(ckpt), "--n", str(n), "--out", str(target)]) == EXIT_OK
    assert capsys.readouterr().out.strip() == str(target)
    with Image.open(target) as img:
        assert img.size == size and img.mode == mode


def test_sample_uses_the_ema_generator_and_the_seed(make_checkpoint, tmp_path, capsys):
    # A high learning rate moves G (and so its average) well away from the near-zero start.
    ckpt, t = make_checkpoint("digits", {"train.ema": 0.5, "optim.lr_g": 0.05}, steps=4)
    for seed in (0, 3):
        target = tmp_path / f"s{seed}.png"
        assert main(["sample", str(ckpt), "--n", "16", "--seed", str(seed), "--out", str(target)]) == EXIT_OK
        z = torch.randn(16, 16, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            expected = to_grid(t.G_ema.eval()(z), nrow=4)[:, :, 0]
            from_g = to_grid(t.G.eval()(z), nrow=4)[:, :, 0]
        with Image.open(target) as img:
            got = np.asarray(img)
        assert np.array_equal(got, expected) and not np.array_equal(got, from_g)
    with Image.open(tmp_path / "s0.png") as a, Image.open(tmp_path / "s3.png") as b:
        assert not np.array_equal(np.asarray(a), np.asarray(b))
    capsys.readouterr()


def test_sample_2d_writes_points(make_checkpoint, tmp_path, capsys):
    ckpt, t = make_checkpoint("ring8")
    target = tmp_path / "pts.npy"
    assert main(["sample", str(ckpt), "--n", "16", "--out", str(target)]) == EXIT_OK
    pts = np.load(target)
    assert pts.shape == (16, 2) and pts.dtype == np.float32
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_array_equal(pts, t.G.eval()(z).numpy())
    capsys.readouterr()
    png = tmp_path / "pts.png"
    assert main(["sample", str(ckpt), "--n", "16", "--out", str(png)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(png) in err and ".npy" in err and not png.exists()


def test_sample_refuses_bad_input(make_checkpoint, tmp_path, capsys):
    ckpt, _ = make_checkpoint("digits")
    assert main(["sample", str(ckpt), "--n", "0"]) == EXIT_BAD_INPUT
    assert "--n 0" in capsys.readouterr().err
    missing = tmp_path / "missing.pt"
    assert main(["sample", str(missing)]) == EXIT_BAD_INPUT
    assert f"checkpoint {missing} does not exist" in capsys.readouterr().err
    # A checkpoint whose weights do not fit its config names the mismatch.
    ck = torch.load(ckpt, weights_only=True)
    ck["models"]["G"]["net.0.weight"] = ck["models"]["G"]["net.0.weight"][:, :8].clone()
    edited = tmp_path / "edited.pt"
    checkpoints.save_atomic(ck, edited)
    assert main(["sample", str(edited), "--out", str(tmp_path / "e.png")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(edited) in err and "net.0.weight" in err and "size mismatch" in err
    assert not (tmp_path / "e.png").exists()


# --- presets and config ----------------------------------------------------------------------------------


def test_presets_lists_every_name(capsys):
    assert main(["presets"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(presets.NAMES)
    for line, name in zip(lines, presets.NAMES, strict=True):
        assert line.endswith(presets.describe(name))


def test_config_prints_toml_that_loads_back(capsys):
    assert main(["config", "--preset", "ring8"]) == EXIT_OK
    assert from_toml(capsys.readouterr().out) == presets.get("ring8")
    assert main(["config"]) == EXIT_OK
    assert from_toml(capsys.readouterr().out) == Config()
    assert main(["config", "--preset", "nope"]) == EXIT_BAD_INPUT
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_python_dash_m_ganstudio(tmp_path):
    """The real command line: `python -m ganstudio` (a `train` run in a new process is in
    test_checkpoints' exact-resume tests)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ganstudio", "config", "--preset", "ring8-minimax"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert from_toml(proc.stdout) == presets.get("ring8-minimax")
    proc = subprocess.run(
        [sys.executable, "-m", "ganstudio", "config", "--preset", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == EXIT_BAD_INPUT and proc.stdout == ""
    assert "unknown preset 'nope'" in proc.stderr and "Traceback" not in proc.stderr
