"""Your own model in GAN Studio's loop (model.arch = FILE.py:FUNCTION or package.module:FUNCTION):
it trains, resumes bit-exactly, forks, samples and runs under torchrun; the run folder keeps the
file and its hash, a checkpoint records both; a changed or missing file and every way user code
breaks the contract are an exit 2 that names the file, never a traceback."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core import latent
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import Config, arch_file_problem, check_value, with_values
from ganstudio.core.models import provenance, user
from ganstudio.core.run.folder import RunFolder
from tests.core.conftest import tiny_cli
from tests.core.test_distributed import finish, torchrun

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_gan.py"
TINY = tiny_cli({"metrics.every": 0, "log.sample_every": 0})


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "my_gan.py"
    shutil.copy(EXAMPLE, path)
    return path


def arch(path: Path) -> list[str]:
    return ["--set", f"model.arch={path}:build"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def latest(folder: Path) -> Path:
    return folder / "checkpoints" / "latest.pt"


def only_run(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


# --- the form of model.arch ---------------------------------------------------------------------


def test_the_validator_reads_the_form_and_imports_nothing(tmp_path):
    assert check_value("model.arch", "nowhere.py:build") is None  # form only: no file is read
    assert check_value("model.arch", "pkg.module:build") is None
    assert "FILE.py:FUNCTION" in check_value("model.arch", "vgg")
    assert "function name" in check_value("model.arch", "my_gan.py:2build")
    assert "no file" in arch_file_problem(f"{tmp_path / 'nowhere.py'}:build")
    assert arch_file_problem(f"{EXAMPLE}:build") is None


# --- a model file trains like a built-in ----------------------------------------------------------


def test_a_model_file_trains_and_its_run_keeps_the_file_and_hash(model_file, tmp_path, capsys):
    out = tmp_path / "runs"
    extra = ["--set", "log.sample_every=2", "--set", "metrics.every=4", "--set", "metrics.samples=50"]
    assert main(["train", *arch(model_file), "--steps", "4", "--out", str(out), *TINY, *extra]) == EXIT_OK
    run = only_run(out)
    folder = RunFolder(run)
    assert (folder.model_dir / "my_gan.py").read_bytes() == model_file.read_bytes()
    assert (folder.model_dir / "SHA256SUMS").read_text() == f"{sha(model_file)}  my_gan.py\n"
    meta = folder.meta()["model"]
    assert meta["path"] == str(model_file) and meta["sha256"] == sha(model_file)
    ck = checkpoints.load(latest(run))
    assert ck["model_code"]["arch"] == f"{model_file}:build" and ck["model_code"]["sha256"] == sha(model_file)
    records = [line for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any('"event": "metrics"' in r or '"event":"metrics"' in r for r in records)
    assert "my_gan" in run.name


def test_resume_is_bit_exact_and_fork_and_sample_work(model_file, tmp_path, capsys):
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    common = [*arch(model_file), *TINY, "--set", "log.checkpoint_every=3"]
    assert main(["train", "--run-dir", str(straight), "--steps", "6", *common]) == EXIT_OK
    assert main(["train", "--run-dir", str(parts), "--steps", "3", *common]) == EXIT_OK
    assert main(["train", "--run-dir", str(parts), "--resume", "auto", "--steps", "6", "--quiet"]) == EXIT_OK
    a, b = checkpoints.load(latest(straight)), checkpoints.load(latest(parts))
    for net in ("G", "D"):
        for k, v in a["models"][net].items():
            assert torch.equal(v, b["models"][net][k]), (net, k)
    assert a["step"] == b["step"] == 6  # histories differ: the first part logged its last step, 3

    forks = tmp_path / "forks"
    code = main(
        ["train", "--fork", str(latest(straight)), "--set", "optim.lr_g=0.001", "--steps", "8"]
        + ["--out", str(forks), "--quiet"]
    )
    assert code == EXIT_OK
    fork = only_run(forks)
    assert checkpoints.load(latest(fork))["step"] == 8
    assert (RunFolder(fork).model_dir / "my_gan.py").exists()

    png = tmp_path / "grid.png"
    assert main(["sample", str(latest(straight)), "--n", "16", "--out", str(png)]) == EXIT_OK
    assert png.stat().st_size > 0


def test_on_the_2d_toys_with_the_lab_and_the_latent_explorer(model_file, tmp_path, capsys):
    out = tmp_path / "runs"
    ring = ["--set", "data.dataset=ring8", "--set", "log.sample_every=2"]
    assert main(["train", *arch(model_file), "--steps", "4", "--out", str(out), *TINY, *ring]) == EXIT_OK
    run = only_run(out)
    assert list((run / "samples").glob("*.lab.npz"))
    weights = latent.weights_from_checkpoint(latest(run))
    assert weights.model.sha256 == sha(model_file)
    explorer = latent.Explorer(weights)  # this process imported the file while training
    assert explorer.grid().shape[1] == 2
    unseen = dataclasses.replace(weights.model, sha256="0" * 64)  # a file this process never imported
    with pytest.raises(user.ModelCodeError, match="has not been imported"):
        latent.Explorer(dataclasses.replace(weights, model=unseen))
    npy = tmp_path / "points.npy"
    assert main(["sample", str(latest(run)), "--out", str(npy)]) == EXIT_OK


def test_the_package_module_form(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "site" / "gs_user_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    shutil.copy(EXAMPLE, pkg / "nets.py")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    out = tmp_path / "runs"
    code = main(
        ["train", "--set", "model.arch=gs_user_pkg.nets:build", "--steps", "2", "--out", str(out), *TINY]
    )
    assert code == EXIT_OK
    run = only_run(out)
    assert (RunFolder(run).model_dir / "nets.py").exists()
    assert checkpoints.load(latest(run))["model_code"]["module"] == "gs_user_pkg.nets"


# --- honest about code: a changed or missing file -----------------------------------------------


def test_a_changed_or_missing_file_is_refused_naming_both_paths(model_file, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", *arch(model_file), "--steps", "2", "--out", str(out), *TINY]) == EXIT_OK
    run = only_run(out)
    copy = RunFolder(run).model_dir / "my_gan.py"
    check = provenance.model_file_of(run)
    assert check.matches and check.path == model_file and check.copy == copy
    capsys.readouterr()

    model_file.write_text(model_file.read_text() + "\n# edited\n")
    assert provenance.model_file_of(latest(run)).matches is False
    resume = ["train", "--resume", str(latest(run)), "--steps", "3", "--out", str(out), "--quiet"]
    assert main(resume) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(model_file) in err and str(copy) in err and "--model-file" in err and "changed" in err
    assert "Traceback" not in err
    assert main(["sample", str(latest(run)), "--out", str(tmp_path / "x.png")]) == EXIT_BAD_INPUT
    assert str(copy) in capsys.readouterr().err

    model_file.unlink()
    assert main(resume) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(model_file) in err and "not there" in err and str(copy) in err

    assert main([*resume, "--model-file", str(copy)]) == EXIT_OK  # the user names the file to use
    resumed = next(p for p in out.iterdir() if p != run)
    assert checkpoints.load(latest(resumed))["model_code"]["path"] == str(copy)
    assert (
        main(["sample", str(latest(run)), "--model-file", str(copy), "--out", str(tmp_path / "y.png")]) == 0
    )


def test_a_checkpoint_of_a_model_file_is_not_imported_unasked(model_file, tmp_path, capsys):
    from ganstudio.core.train.trainer import Trainer

    out = tmp_path / "runs"
    assert main(["train", *arch(model_file), "--steps", "2", "--out", str(out), *TINY]) == EXIT_OK
    with pytest.raises(user.ModelCodeError, match="importing it runs its code"):
        Trainer.from_checkpoint(latest(only_run(out)))


# --- user code fails in user ways ----------------------------------------------------------------

BROKEN = {
    "build raises": (
        "def build(cfg, shape):\n    raise ValueError('no width for you')\n",
        "line 2",
        "ValueError",
    ),
    "syntax error": ("def build(cfg, shape)\n    return 1\n", "line 1", "SyntaxError"),
    "no such function": ("def make(cfg, shape):\n    pass\n", "", "has no function 'build'"),
    "not a pair": ("def build(cfg, shape):\n    return 3\n", "", "(generator, discriminator)"),
    "forward raises": (
        "import torch\nfrom torch import nn\n"
        "class G(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.l = nn.Linear(16, 64)\n"
        "    def forward(self, z):\n        raise RuntimeError('my bug')\n"
        "def build(cfg, shape):\n    return G(), nn.Sequential(nn.Flatten(), nn.Linear(64, 1))\n",
        "line 7, in forward",
        "RuntimeError: my bug",
    ),
    "wrong shape": (
        "from torch import nn\n"
        "def build(cfg, shape):\n    return nn.Linear(16, 3), nn.Sequential(nn.Flatten(), nn.Linear(3, 1))\n",
        "",
        "it returned a tensor of shape (4, 3)",
    ),
    "out of range": (
        "import torch\nfrom torch import nn\n"
        "class G(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.l = nn.Linear(16, 64)\n"
        "    def forward(self, z):\n        return 10 + self.l(z).view(-1, 1, 8, 8)\n"
        "def build(cfg, shape):\n    return G(), nn.Sequential(nn.Flatten(), nn.Linear(64, 1))\n",
        "",
        "in [-1, 1]",
    ),
    "wrong dtype": (
        "import torch\nfrom torch import nn\n"
        "class G(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.l = nn.Linear(16, 64)\n"
        "    def forward(self, z):\n        return torch.tanh(self.l(z)).view(-1, 1, 8, 8).double()\n"
        "def build(cfg, shape):\n    return G(), nn.Sequential(nn.Flatten(), nn.Linear(64, 1))\n",
        "",
        "float64",
    ),
    "probabilities": (
        "import torch\nfrom torch import nn\n"
        "class G(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.l = nn.Linear(16, 64)\n"
        "    def forward(self, z):\n        return torch.tanh(self.l(z)).view(-1, 1, 8, 8)\n"
        "def build(cfg, shape):\n"
        "    return G(), nn.Sequential(nn.Flatten(), nn.Linear(64, 1), nn.Sigmoid())\n",
        "",
        "probabilities",
    ),
    "wrong device": (
        "import torch\nfrom torch import nn\n"
        "class Stuck(nn.Linear):\n"
        "    def _apply(self, fn, recurse=True):\n        return self\n"
        "def build(cfg, shape):\n"
        "    with torch.device('meta'):\n        g = Stuck(16, 64)\n"
        "    return g, nn.Sequential(nn.Flatten(), nn.Linear(64, 1))\n",
        "",
        "is on meta",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_user_code_fails_in_user_ways(case, tmp_path, capsys):
    text, line, words = BROKEN[case]
    path = tmp_path / f"broken_{case.replace(' ', '_')}.py"
    path.write_text(text)
    out = tmp_path / "runs"
    code = main(["train", *arch(path), "--steps", "2", "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    assert str(path) in err and words in err and line in err, err
    assert "Traceback" not in err and "invalid configuration" not in err
    assert not out.exists() or not any(out.iterdir())


def test_a_model_error_is_a_config_error_for_the_app(tmp_path):
    from ganstudio.core.train.trainer import Trainer

    path = tmp_path / "bad.py"
    path.write_text(BROKEN["probabilities"][0])
    cfg = with_values(
        Config(), {"model.arch": f"{path}:build", "model.latent_dim": 16, "train.device": "cpu"}
    )
    with pytest.raises(user.ModelCodeError) as e:
        Trainer(cfg)
    assert e.value.problems == [str(e.value)] and str(path) in str(e.value)


# --- torchrun ------------------------------------------------------------------------------------


def test_a_model_file_under_torchrun(model_file, tmp_path):
    job = tmp_path / "job"
    args = [*arch(model_file), "--steps", "4", "--set", "train.device=cpu", "--set", "train.threads=1"]
    args += ["--set", "model.width=8", "--set", "model.latent_dim=16", "--set", "train.batch_size=16"]
    code, _, err = finish(torchrun("--run-dir", str(job), *args, "--set", "metrics.every=0", "--quiet"))
    assert code == 0, err
    assert "Traceback" not in err
    ck = checkpoints.load(latest(job))
    assert ck["world_size"] == 2 and ck["step"] == 4 and ck["model_code"]["sha256"] == sha(model_file)
    assert (RunFolder(job).model_dir / "my_gan.py").exists()


@pytest.mark.parametrize("loss", ["minimax", "hinge", "lsgan", "wgan-gp"])
def test_every_loss_ema_holdout_and_live_edits(loss, model_file):
    from ganstudio.core.run.control import Control
    from ganstudio.core.train.trainer import Trainer
    from tests.core.conftest import make_tiny_config

    values = {"model.arch": f"{model_file}:build", "loss.kind": loss, "train.ema": 0.9, "optim.d_steps": 2}
    trainer = Trainer(make_tiny_config("digits", values, steps=4))
    assert trainer.x_holdout is not None and trainer.G_ema is not None
    events = list(trainer.run(Control()))
    assert trainer.step == 4 and not any(type(e).__name__ == "Failed" for e in events)
    stats = [e for e in events if type(e).__name__ == "Stats"]
    assert stats and "holdout_acc_heldout" in stats[-1].values and "grad_G.net.0" in stats[-1].values
    assert trainer.apply_config({"loss.kind": "nonsaturating", "optim.lr_g": 1e-3, "train.steps": 6})
    list(trainer.run(Control()))
    assert trainer.step == 6 and trainer.opt_g.param_groups[0]["lr"] == 1e-3
