"""GanStudioTracker: Accelerate's `log` reaches a run folder the app follows, and the app's pause,
live lr edits and stop reach the loop, on one process and on two (torchrun, Gloo)."""

from __future__ import annotations

import time

import torch
from accelerate import Accelerator

from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_run
from ganstudio.integrations.accelerate import GanStudioTracker

from .conftest import App, ended, example, run_folder, torchrun


def test_the_example_writes_a_run_the_app_reads(tmp_path):
    example("accelerate_gan").main(["--steps", "40", "--out", str(tmp_path), "--cpu"])
    state = read_run(run_folder(tmp_path))
    assert state.status == "finished" and state.step == 40
    assert state.history.steps().tolist()[-1] == 40 and len(state.history.steps()) >= 4
    assert {"loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d"} <= set(state.history.keys)
    assert state.config.train.steps == 40 and state.latest_samples.step == 40
    meta = RunFolder(run_folder(tmp_path).path).meta()
    assert meta["loop"]["values"] == {"batch_per_process": 64, "latent": 32}  # init_trackers' config
    assert meta["loop"]["save"] is True


def test_pause_edit_and_stop_reach_the_loop(tmp_path):
    tracker = GanStudioTracker(out=tmp_path, name="steered")
    accelerator = Accelerator(cpu=True, log_with=tracker)
    accelerator.init_trackers("steered", config={"my.note": "x", "unset": None})
    G, D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    G, D, opt_g, opt_d = accelerator.prepare(G, D, opt_g, opt_d)
    tracker.watch(g_optimizer=opt_g, d_optimizer=opt_d)
    app = App(tmp_path, step_of=lambda: tracker.tracker.step)
    step, end = 0, time.monotonic() + 60
    while time.monotonic() < end:
        step += 1
        loss_d, loss_g = D(G(torch.randn(8, 2))).mean(), G(torch.randn(8, 2)).pow(2).mean()
        accelerator.log({"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "text": "left out"}, step=step)
        time.sleep(0.001)
        if not tracker.tick(step):
            break
    accelerator.end_training()
    app.check()
    assert opt_g.param_groups[0]["lr"] == 1e-3 and opt_d.param_groups[0]["lr"] == 5e-4
    state = read_run(run_folder(tmp_path))
    assert state.status == "stopped" and state.step == step
    assert state.history.series("lr_g")[-1] == 1e-3  # the optimizer's own rate, logged
    assert RunFolder(run_folder(tmp_path).path).meta()["loop"]["values"] == {"my.note": "x"}


def test_two_processes_pause_together_and_the_edit_reaches_both_optimizers(tmp_path):
    proc = torchrun("accelerate_gan.py", "--cpu", "--steps", "100000", "--out", str(tmp_path))
    app = App(tmp_path)
    ranks = ended(proc)
    app.check()
    assert set(ranks) == {0, 1}
    assert ranks[0] == ranks[1]  # the same step (Stop agreed), the same rates (the edit agreed)
    assert ranks[0].endswith("lr_g 0.001 lr_d 0.0005")
    state = read_run(run_folder(tmp_path))
    assert state.status == "stopped" and f"ended at step {state.step}," in ranks[0]
