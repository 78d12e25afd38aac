"""Running out of memory (a GPU's or the machine's) is a message that says what to lower, never a
traceback or a misleading "does not match": while building a run, while loading a checkpoint onto
its device and at any training step; the run folder and its checkpoints are kept.

The failures are real ones: torch's CPU allocator refusing a 4 TiB tensor, raised where the real
allocation would be (the GPU case, torch.OutOfMemoryError, is told apart by its type)."""

from __future__ import annotations

import pytest
import torch

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_FAILED, main
from ganstudio.core import models
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import Config, with_values
from ganstudio.core.run.events import Failed
from ganstudio.core.run.log import read_metrics
from ganstudio.core.train import oom
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import tiny_cli

TINY = tiny_cli({"metrics.every": 0})


def allocate_too_much(*_args, **_kwargs):
    torch.empty(1 << 42, dtype=torch.uint8)  # 4 TiB: the CPU allocator refuses it


def tiny_cfg(tmp_path) -> Config:
    return with_values(
        Config(),
        {
            "train.threads": 1,
            "train.device": "cpu",
            "train.batch_size": 16,
            "model.width": 8,
            "model.latent_dim": 16,
            "log.every": 2,
            "metrics.every": 0,
            "log.sample_every": 0,
            "log.out": str(tmp_path),
        },
    )


def test_the_message_names_what_ran_out_and_the_keys_that_size_the_run(tmp_path):
    cfg = tiny_cfg(tmp_path)
    try:
        allocate_too_much()
    except RuntimeError as e:
        ram = oom.describe(e, cfg, "cpu", "at step 7")
    assert oom.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not oom.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    gpu = oom.describe(
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nadvice"),
        cfg,
        "cuda:1",
        "at step 7",
    )
    assert ram.startswith("out of memory (RAM) at step 7 (it asked for 4.00 TiB more). Lower ")
    # torch's amount, not its whole message (whose free figures ignore a per-process cap)
    assert gpu.startswith("out of GPU memory on cuda:1 at step 7 (it asked for 2.00 GiB more")
    assert "advice" not in gpu
    odd = oom.describe(RuntimeError("out of memory " + "x" * 300), cfg, "cpu", "while building the run")
    assert odd.startswith("out of memory (RAM) while building the run (out of memory…). Lower ")
    for text in (ram, gpu):
        assert "train.batch_size (now 16)" in text and "model.width (now 8)" in text
        assert "data.image_size (now 8)" in text
        assert text.endswith("the run folder and its checkpoints are kept")
    assert "train.device = cpu" in gpu and "train.device" not in ram
    ring = oom.describe(MemoryError(), with_values(cfg, {"data.dataset": "ring8"}), "cpu", "at step 1")
    assert "data.image_size" not in ring  # the 2D toys have no images


def test_a_step_out_of_memory_fails_the_run_with_the_message_and_no_traceback(tmp_path, monkeypatch):
    trainer = Trainer(with_values(tiny_cfg(tmp_path), {"train.steps": 6}))
    real_step = trainer.train_step

    def step():
        if trainer.step == 3:
            allocate_too_much()
        real_step()

    monkeypatch.setattr(trainer, "train_step", step)
    events = list(trainer.run())
    assert isinstance(events[-1], Failed)
    failure = events[-1]
    assert failure.step == 3 and failure.traceback == ""
    assert failure.message.startswith("out of memory (RAM) at step 3")
    assert trainer.state.failure == failure


def test_the_cli_says_it_and_keeps_the_checkpoints(tmp_path, capsys, monkeypatch):
    real_step = Trainer.train_step

    def step(self):
        if self.step == 4:
            allocate_too_much()
        real_step(self)

    monkeypatch.setattr(Trainer, "train_step", step)
    out = tmp_path / "runs"
    code = main(["train", "--steps", "8", "--out", str(out), "--set", "log.checkpoint_every=2", *TINY])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert "ganstudio: error: training failed at step 4: out of memory (RAM) at step 4" in err
    assert "Traceback" not in err
    (run_dir,) = out.iterdir()
    assert checkpoints.load(run_dir / "checkpoints" / "latest.pt")["step"] == 4
    assert read_metrics(run_dir / "metrics.jsonl")[-1]["event"] == "failed"


def test_building_a_run_too_big_for_memory_is_refused_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(models, "build", allocate_too_much)
    out = tmp_path / "runs"
    code = main(["train", "--steps", "8", "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "ganstudio: error: out of memory (RAM) while building the run (it asked for 4.00 TiB more)" in err
    assert "Lower train.batch_size (now 16), model.width (now 8) or data.image_size (now 8)" in err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_a_checkpoint_that_does_not_fit_in_memory_is_not_called_mismatched(tmp_path, monkeypatch):
    trainer = Trainer(with_values(tiny_cfg(tmp_path), {"train.steps": 2}))
    for _ in trainer.run():
        pass
    path = trainer.save_checkpoint(tmp_path / "ck.pt").path
    monkeypatch.setattr(Trainer, "_load_state", allocate_too_much)
    with pytest.raises(oom.OutOfMemory) as e:
        Trainer.from_checkpoint(path)
    assert str(e.value).startswith("out of memory (RAM) while loading the checkpoint (")
    assert "does not match" not in str(e.value)


def test_quality_metrics_out_of_memory_is_an_alert_that_says_what_to_lower_and_training_goes_on(
    tmp_path, monkeypatch
):
    from ganstudio.core.metrics.evaluator import Evaluator
    from ganstudio.core.run.events import Alert, Finished

    monkeypatch.setattr(Evaluator, "evaluate", allocate_too_much)
    cfg = with_values(tiny_cfg(tmp_path), {"train.steps": 6, "metrics.every": 2, "metrics.samples": 100})
    events = list(Trainer(cfg).run())
    alerts = [e for e in events if isinstance(e, Alert) and e.kind == "metrics"]
    assert alerts and isinstance(events[-1], Finished)
    assert alerts[0].message.startswith(
        f"quality metrics for step {alerts[0].step} failed: out of memory (RAM) while computing the quality "
        "metrics (it asked for 4.00 TiB more). Lower metrics.samples (now 100), or turn the metrics off"
    )
    assert "Traceback" not in alerts[0].message and "RuntimeError" not in alerts[0].message
