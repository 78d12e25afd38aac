"""ganstudio.core.train.trainer: the event stream, control from another thread, live edits, EMA, NaN,
errors."""

from __future__ import annotations

import dataclasses
import math
import queue
import threading

import numpy as np
import pytest
import torch

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.checkpoint.store import list_checkpoints
from ganstudio.core.config import ConfigError, to_dict, with_values
from ganstudio.core.image import to_grid
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import (
    STAT_KEYS,
    Alert,
    CheckpointFailed,
    CheckpointSaved,
    Failed,
    Finished,
    HyperparamsChanged,
    Paused,
    Resumed,
    RunStarted,
    Samples,
    Stats,
)
from ganstudio.core.train import threads
from ganstudio.core.train.trainer import OVERFIT_KEYS, Trainer
from tests.core.conftest import assert_same, of_type, run_all, snapshot

TIMEOUT = 60  # seconds a threaded test waits for one event before it fails (never reached when green)


# --- the event stream of a short run --------------------------------------------------------------

# kind -> the shape of one sample grid / point cloud
RUNS = {
    "digits": (73, 73, 1),  # 8 x 8 images of 8 px with 1 px padding: 8 * 9 + 1
    "dcgan": (137, 137, 1),  # 8 x 8 images of 16 px: 8 * 17 + 1
    "ring8": (1024, 2),
}


@pytest.mark.parametrize("kind", list(RUNS))
def test_event_order_of_a_short_run(kind, tiny_config, make_trainer):
    cfg = tiny_config(kind, steps=6, every=2, sample_every=3)
    t = make_trainer(cfg)
    events = run_all(t)

    start = events[0]
    assert isinstance(start, RunStarted)
    assert start.step == 0 and start.total_steps == 6 and start.threads == 1 and start.device == "cpu"
    assert start.config == to_dict(cfg) and start.run_dir is None
    assert events[-1] == Finished(step=6, reason="completed")
    assert not of_type(events, (Failed, Paused))
    assert not [a for a in of_type(events, Alert) if a.kind in ("config", "nan")]

    stats = of_type(events, Stats)
    assert [s.step for s in stats] == [2, 4, 6]
    for s in stats:
        extra = set(s.values) - set(STAT_KEYS) - {"steps_per_s"}
        assert set(STAT_KEYS) <= set(s.values)
        # Besides: D on held-out reals (image data), and each layer's gradient norm.
        holdout = {k for k in extra if k.startswith("holdout_") or k == "d_overfit_rt"}
        assert holdout == (set() if kind == "ring8" else set(OVERFIT_KEYS))
        layers = extra - holdout
        assert layers and all(k.startswith(("grad_G.", "grad_D.")) for k in layers)
        assert all(math.isfinite(v) for v in s.values.values()), s.values
        assert s.values["lr_g"] == cfg.optim.lr_g and s.values["steps_per_s"] > 0
        assert s.values["images_per_s"] == pytest.approx(16 * s.values["steps_per_s"])
        assert s.epoch == pytest.approx(s.step * 16 / t.sampler.n)  # of the training images
    assert [s.wall for s in stats] == sorted(s.wall for s in stats) and stats[0].wall > 0
    assert len(t.history) == 3 and t.history.steps().tolist() == [2, 4, 6]

    samples = of_type(events, Samples)
    assert [s.step for s in samples] == [0, 3, 6]
    for s in samples:
        if kind == "ring8":
            assert s.grid is None and s.points.shape == RUNS[kind] and s.points.dtype == np.float32
            assert np.isfinite(s.points).all()
        else:
            assert s.points is None and s.grid.shape == RUNS[kind] and s.grid.dtype == np.uint8
            assert s.grid.flags.c_contiguous
    # The first grid shows the untrained generator, the last one a trained one.
    first, last = samples[0], samples[-1]
    a, b = (first.points, last.points) if kind == "ring8" else (first.grid, last.grid)
    assert not np.array_equal(a, b)
    # Stats come before the samples and checkpoint of their step, and every step's events in order.
    steps = [e.step for e in events[1:]]
    assert steps == sorted(steps)


def test_stats_average_the_interval(tiny_config, make_trainer, monkeypatch):
    """loss_d in a Stats event is the mean over the steps of its interval, not the last value."""
    t = make_trainer(tiny_config("digits", steps=6, every=3))
    seen: list[float] = []
    d_loss = t.loss.d_loss

    def recording(real, fake):
        out = d_loss(real, fake)
        seen.append(out.item())
        return out

    monkeypatch.setattr(t.loss, "d_loss", recording)
    stats = of_type(run_all(t), Stats)
    assert [s.step for s in stats] == [3, 6] and len(seen) == 6
    for s, chunk in zip(stats, (seen[:3], seen[3:]), strict=True):
        assert s.values["loss_d"] == pytest.approx(sum(chunk) / 3, rel=1e-5)
    assert len(set(seen)) == 6


def test_grid_layout():
    images = torch.full((4, 1, 3, 3), -1.0)
    images[1] = 1.0
    grid = to_grid(images, nrow=2)
    assert grid.shape == (9, 9, 1) and grid.dtype == np.uint8
    assert grid.base is None or grid.base.nbytes == grid.nbytes  # not a view of a 3-channel grid
    assert grid[1:4, 1:4].max() == 0 and grid[1:4, 5:8].min() == 255  # -1 -> black, 1 -> white
    assert to_grid(torch.zeros(2, 3, 4, 4), nrow=2).shape == (6, 11, 3)


def test_batch_larger_than_dataset(tiny_config, make_trainer):
    with pytest.raises(ConfigError) as info:
        make_trainer(tiny_config("digits", batch_size=1798))
    (msg,) = info.value.problems
    assert "train.batch_size = 1798" in msg and "1797" in msg


def test_choose_threads_does_not_touch_the_run(tiny_config, make_trainer, monkeypatch):
    """Timing the thread counts trains copies: the run itself must not move by a bit."""
    t = make_trainer(tiny_config("digits", threads=0))
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)  # room to time both counts
    t.train_step()
    before, acc = snapshot(t), t._acc.clone()
    timed = []
    original = Trainer.train_step
    monkeypatch.setattr(
        Trainer, "train_step", lambda self: (timed.append(torch.get_num_threads()), original(self))[1]
    )
    torch.set_num_threads(2)  # more than one, so the probe really runs both counts
    try:
        n = threads.choose_threads(t, budget_s=0.05)
        assert n in (1, 2) and n == torch.get_num_threads()
    finally:
        torch.set_num_threads(1)
    assert timed[0] == 2 and set(timed) == {1, 2}  # the larger count first, then both
    assert_same(snapshot(t), before, "trainer")
    assert torch.equal(t._acc, acc) and t._acc_n == 1


@pytest.mark.parametrize(
    ("cores", "metrics_every", "reserve", "expected"),
    [(2, 500, 0, 1), (2, 0, 1, 1), (3, 500, 1, 1), (2, 0, 0, None), (4, 500, 1, None)],
)
def test_choose_threads_leaves_cores_to_busy_threads(
    tiny_config, make_trainer, monkeypatch, cores, metrics_every, reserve, expected
):
    """Training's OpenMP threads never take the core of the GUI thread or the metrics thread:
    where no core would be left for a second training thread, it uses 1 without timing."""
    t = make_trainer(tiny_config("digits", {"metrics.every": metrics_every}, threads=0))
    t.reserve_cores = reserve
    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    timed = []
    monkeypatch.setattr(Trainer, "train_step", lambda self: timed.append(torch.get_num_threads()))
    torch.set_num_threads(2)
    try:
        n = threads.choose_threads(t, budget_s=0.02)
    finally:
        torch.set_num_threads(1)
    if expected is not None:
        assert n == expected and timed == []
    else:
        assert set(timed) == {1, 2} and n in (1, 2)


# --- control from another thread ------------------------------------------------------------------


class Runner:
    """Runs trainer.run(control) on a thread; the test thread reads its events from a queue."""

    def __init__(self, trainer: Trainer, control: Control):
        self.events: queue.Queue = queue.Queue()
        self.seen: list = []
        self.thread = threading.Thread(target=self._work, args=(trainer, control), daemon=True)
        self.thread.start()

    def _work(self, trainer, control):
        for ev in trainer.run(control):
            self.events.put(ev)

    def until(self, cls, where=lambda ev: True, timeout: float = TIMEOUT):
        """The next event of type cls that satisfies `where`; everything before it is in self.seen."""
        while True:
            ev = self.events.get(timeout=timeout)
            self.seen.append(ev)
            if isinstance(ev, cls) and where(ev):
                return ev
            assert not isinstance(ev, (Failed, Finished)), ev

    def join(self):
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()


def test_pause_step_resume_stop_from_another_thread(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", steps=100_000, every=1, sample_every=0))
    control = Control()
    r = Runner(t, control)
    r.until(Stats)
    control.pause()
    paused = r.until(Paused)
    assert paused.reason == "" and control.paused
    s = paused.step
    n_stats = len(of_type(r.seen, Stats))

    control.step(1)
    again = r.until(Paused)
    assert again.step == s + 1 and again.reason == ""
    stepped = of_type(r.seen, Stats)[n_stats:]
    assert [e.step for e in stepped] == [s + 1]  # exactly one more step, with its stats

    control.resume()
    resumed = r.until(Resumed)
    assert resumed.step == s + 1  # nothing ran while paused
    r.until(Stats, lambda ev: ev.step > s + 3)  # and training goes on

    control.stop()
    finished = r.until(Finished)
    r.join()
    assert finished.reason == "stopped" and s + 3 < finished.step == t.step < 100_000
    assert r.events.empty()


def test_pause_that_lands_just_before_the_wait_is_reported(tiny_config, make_trainer):
    """A pause() that arrives after a step's last check but before the loop waits must still be
    answered with a Paused event: the GUI shows "Paused" only when it gets one."""
    t = make_trainer(tiny_config("ring8", steps=100_000, every=50))

    class LatePause(Control):
        def wait(self, *args, **kwargs):
            if t.step == 3 and not self.paused and not self.stopping:
                self.pause()  # as if another thread called pause() at this very moment
            return super().wait(*args, **kwargs)

    control = LatePause()
    r = Runner(t, control)
    paused = r.until(Paused, timeout=15)
    assert paused == Paused(step=3)
    control.resume()
    assert r.until(Resumed) == Resumed(step=3)
    control.stop()
    assert r.until(Finished).reason == "stopped"
    r.join()


def test_start_paused_then_single_steps(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", steps=3, every=2, sample_every=1))
    control = Control(paused=True)
    r = Runner(t, control)
    r.until(RunStarted)
    for expected in (1, 2, 3, 4):  # stepping past train.steps extends the run by one step
        control.step(1)
        ev = r.until(Paused, lambda ev: ev.step > 0)
        assert ev.step == expected
        stats = r.seen[-3:-1]  # a single step reports its stats and samples at once
        assert isinstance(stats[0], Stats) and stats[0].step == expected
        assert isinstance(stats[1], Samples) and stats[1].step == expected
    assert t.step == 4 and t.cfg.train.steps == 4
    control.stop()
    assert r.until(Finished) == Finished(step=4, reason="completed")
    r.join()


def test_stop_while_paused(tiny_config, make_trainer, tmp_path):
    t = make_trainer(tiny_config("digits", steps=1000), checkpoint_dir=tmp_path)
    control = Control()
    r = Runner(t, control)
    r.until(Stats)
    control.pause()
    p = r.until(Paused)
    control.stop()
    fin = r.until(Finished)
    r.join()
    assert fin == Finished(step=p.step, reason="stopped")
    # Stopping keeps the work: a last checkpoint at the step it stopped.
    saved = of_type(r.seen, CheckpointSaved)
    assert saved and saved[-1].step == p.step
    assert checkpoints.load(tmp_path / "latest.pt")["step"] == p.step


# --- live config changes --------------------------------------------------------------------------


def test_live_change_applies_from_the_next_step(tiny_config, make_trainer):
    cfg = tiny_config("digits", steps=5, every=1)
    t = make_trainer(cfg)
    control = Control()
    new = with_values(cfg, {"optim.lr_g": 1e-3, "optim.lr_d": 5e-4, "optim.beta1": 0.0, "log.every": 2})
    events = []
    for ev in t.run(control):
        events.append(ev)
        if isinstance(ev, Stats) and ev.step == 2:
            control.update_config(new)
    changed = of_type(events, HyperparamsChanged)
    assert len(changed) == 1
    assert changed[0].step == 2
    assert changed[0].changes == {
        "optim.lr_g": (2e-4, 1e-3),
        "optim.lr_d": (2e-4, 5e-4),
        "optim.beta1": (0.5, 0.0),
        "log.every": (1, 2),
    }
    i = events.index(changed[0])
    assert isinstance(events[i - 1], Stats) and events[i - 1].step == 2
    stats = of_type(events, Stats)
    assert [(s.step, s.values["lr_g"], s.values["lr_d"]) for s in stats] == [
        (1, 2e-4, 2e-4),
        (2, 2e-4, 2e-4),
        (4, 1e-3, 5e-4),
        (5, 1e-3, 5e-4),
    ]
    for opt, lr in ((t.opt_g, 1e-3), (t.opt_d, 5e-4)):
        assert opt.param_groups[0]["lr"] == lr and opt.param_groups[0]["betas"] == (0.0, 0.999)
    assert t.cfg == new
    assert [m.kind for m in t.history.markers] == ["hparams"] and "optim.lr_g" in t.history.markers[0].text


def test_non_live_change_is_refused(tiny_config, make_trainer):
    cfg = tiny_config("digits", steps=4, every=1)
    t = make_trainer(cfg)
    control = Control()
    refused = [
        with_values(cfg, {"model.latent_dim": 32, "optim.lr_g": 1e-3}),  # one locked key spoils all
        with_values(cfg, {"optim.lr_g": -1.0}),  # invalid
    ]
    events = []
    for ev in t.run(control):
        events.append(ev)
        if isinstance(ev, Stats) and ev.step <= len(refused):
            control.update_config(refused[ev.step - 1])
    alerts = [a for a in of_type(events, Alert) if a.kind == "config"]
    assert [a.step for a in alerts] == [1, 2]
    assert "model.latent_dim cannot change while training runs" in alerts[0].message
    assert "optim.lr_g" not in alerts[0].message
    assert "optim.lr_g = -1.0 is too small" in alerts[1].message
    assert not of_type(events, HyperparamsChanged)
    assert t.cfg == cfg and t.opt_g.param_groups[0]["lr"] == 2e-4
    assert t.G.net[0].in_features == 16
    assert events[-1] == Finished(step=4, reason="completed")


def test_apply_config_directly(tiny_config, make_trainer):
    cfg = tiny_config("digits")
    t = make_trainer(cfg)
    assert t.apply_config(cfg) is None
    with pytest.raises(ConfigError, match="data.dataset cannot change"):
        t.apply_config(with_values(cfg, {"data.dataset": "ring8", "model.width": 16}))
    ev = t.apply_config(with_values(cfg, {"train.ema": 0.5}))
    assert ev.changes == {"train.ema": (0.0, 0.5)} and t.G_ema is not None


# --- EMA ---------------------------------------------------------------------------------------------


def test_ema_weights_are_the_running_average(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", {"train.ema": 0.9}))
    start = [p.detach().clone() for p in t.G.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(start, t.G_ema.parameters(), strict=True))
    t.train_step()
    for s, p, e in zip(start, t.G.parameters(), t.G_ema.parameters(), strict=True):
        torch.testing.assert_close(e, 0.9 * s + 0.1 * p.detach())
    for b_ema, b in zip(t.G_ema.buffers(), t.G.buffers(), strict=True):
        assert torch.equal(b_ema, b)  # BatchNorm statistics are copied, not averaged
    assert not any(p.requires_grad for p in t.G_ema.parameters())


def test_samples_come_from_the_ema_generator(tiny_config, make_trainer):
    t = make_trainer(tiny_config("digits", {"train.ema": 0.9}, steps=4, sample_every=4))
    last = of_type(run_all(t), Samples)[-1]
    assert last.step == 4
    assert any(not torch.equal(a, b) for a, b in zip(t.G.parameters(), t.G_ema.parameters(), strict=True))
    with torch.no_grad():
        from_ema = to_grid(t.G_ema.eval()(t.fixed_noise))
        from_g = to_grid(t.G.eval()(t.fixed_noise))
    assert np.array_equal(last.grid, from_ema) and not np.array_equal(last.grid, from_g)


def test_without_ema_samples_come_from_g(tiny_config, make_trainer):
    t = make_trainer(tiny_config("ring8", steps=2, sample_every=2))
    assert t.G_ema is None
    last = of_type(run_all(t), Samples)[-1]
    with torch.no_grad():
        assert np.array_equal(last.points, t.G.eval()(t.fixed_noise).numpy())


# --- NaN, failures -----------------------------------------------------------------------------------


def _step_files(folder) -> list[int]:
    return [step for step, _ in list_checkpoints(folder)]


def test_nan_from_a_huge_learning_rate_pauses_without_saving(tiny_config, make_trainer, tmp_path):
    # lsgan's squares overflow within two steps at lr 10 on the ring (seed 0).
    cfg = tiny_config(
        "ring8",
        {
            "loss.kind": "lsgan",
            "optim.lr_g": 10.0,
            "optim.lr_d": 10.0,
            "model.width": 128,
            "model.latent_dim": 8,
            "train.seed": 0,
        },
        steps=50,
        every=1,
        checkpoint_every=1,
        keep_checkpoints=100,
    )
    t = make_trainer(cfg, checkpoint_dir=tmp_path)
    control = Control()
    events = []
    for ev in t.run(control):
        events.append(ev)
        if isinstance(ev, Paused):
            control.stop()
    (paused,) = of_type(events, Paused)
    assert "loss_d" in paused.reason and "NaN or infinite" in paused.reason and "checkpoint" in paused.reason
    assert events[-1] == Finished(step=paused.step, reason="stopped")
    saved = of_type(events, CheckpointSaved)
    assert [e.step for e in saved] == list(range(1, paused.step))
    assert _step_files(tmp_path) == list(range(1, paused.step))
    latest = checkpoints.load(tmp_path / "latest.pt")
    assert latest["step"] == paused.step - 1
    assert all(torch.isfinite(v).all() for v in latest["models"]["G"].values())


@pytest.mark.parametrize("nan_from", [5, 6])
def test_nan_between_stats_never_reaches_a_checkpoint(tiny_config, make_trainer, tmp_path, nan_from):
    """Stats are fetched every 4 steps but a checkpoint is due every step: the NaN must be caught
    before the checkpoint of the step that made it, not at the next stats."""
    cfg = tiny_config("digits", steps=20, every=4, checkpoint_every=1, keep_checkpoints=100, sample_every=1)
    t = make_trainer(cfg, checkpoint_dir=tmp_path)
    g_loss = t.loss.g_loss

    def poisoned(fake):
        out = g_loss(fake)
        return out * math.nan if t.step + 1 >= nan_from else out

    t.loss.g_loss = poisoned
    control = Control()
    events = []
    for ev in t.run(control):
        events.append(ev)
        if isinstance(ev, Paused) and ev.reason:
            control.save_checkpoint()  # refused too: the weights are broken
            control.stop()
    (paused,) = of_type(events, Paused)
    assert "loss_g" in paused.reason
    assert _step_files(tmp_path) == list(range(1, nan_from))
    latest = checkpoints.load(tmp_path / "latest.pt")
    assert latest["step"] == nan_from - 1
    assert all(torch.isfinite(v).all() for v in latest["models"]["G"].values())
    assert events[-1].reason == "stopped"
    assert not [e for e in events if isinstance(e, Samples) and e.step >= nan_from]


def test_nan_found_when_stopping_mid_interval(tiny_config, make_trainer, tmp_path):
    """Stop lands between stats: the NaN still in the accumulator must block the final checkpoint."""
    cfg = tiny_config("digits", steps=100, every=50)
    t = make_trainer(cfg, checkpoint_dir=tmp_path)
    t.save_checkpoint()  # step 0: the last good one
    g_loss = t.loss.g_loss
    control = Control()

    def poisoned(fake):
        if t.step == 3:
            control.stop()
        return g_loss(fake) * math.nan

    t.loss.g_loss = poisoned
    events = run_all(t, control)
    assert events[-1] == Finished(step=4, reason="stopped")
    assert not of_type(events, CheckpointSaved)
    (failed,) = of_type(events, CheckpointFailed)
    assert failed.step == 4 and "NaN" in failed.message
    assert checkpoints.load(tmp_path / "latest.pt")["step"] == 0


def test_training_exception_yields_failed(tiny_config, make_trainer, monkeypatch):
    t = make_trainer(tiny_config("digits", steps=10, every=1))
    real_step = t.train_step

    def flaky():
        if t.step == 3:
            raise RuntimeError("simulated CUDA error: device-side assert")
        real_step()

    monkeypatch.setattr(t, "train_step", flaky)
    events = run_all(t)  # does not raise
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.step == 3
    assert failed.message == "RuntimeError: simulated CUDA error: device-side assert"
    assert failed.traceback.startswith("Traceback") and "flaky" in failed.traceback
    assert not of_type(events, Finished)
    assert [s.step for s in of_type(events, Stats)] == [1, 2, 3]


def test_trainer_rejects_invalid_config(tiny_config):
    cfg = tiny_config("digits")
    bad = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, lr_g=math.nan))
    with pytest.raises(ConfigError, match="optim.lr_g = nan"):
        Trainer(bad)
