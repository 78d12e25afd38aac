"""ganstudio.core.train.health: each alert kind on synthetic streams (once per episode, re-armed after
recovery), thresholds from the config, and the alerts of real runs: none on a healthy default run,
one on a broken one."""

from __future__ import annotations

import math

import pytest
import torch

from ganstudio.core.config import Config, validate, with_values
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Alert, Metrics, Paused, Stats
from ganstudio.core.train.health import GRAD_WINDOW, MIN_HISTORY, RECOVER, HealthMonitor
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import dataset_for, of_type

HEALTHY = {"loss_d": 1.3, "loss_g": 0.7, "d_real": 0.5, "d_fake": 0.5, "grad_d": 0.5, "grad_g": 0.3}


def _cfg(**values) -> Config:
    return validate(with_values(Config(), values))


class Stream:
    """Feeds a monitor Stats (every 10 steps) and Metrics, collecting the alerts."""

    def __init__(self, monitor: HealthMonitor):
        self.monitor = monitor
        self.step = 0
        self.alerts: list[Alert] = []

    def stats(self, n: int = 1, **values: float) -> None:
        for _ in range(n):
            self.step += 10
            self.alerts += self.monitor.observe(Stats(self.step, 0.0, 0.0, {**HEALTHY, **values}))

    def metrics(self, **values: float) -> None:
        self.step += 10
        self.alerts += self.monitor.observe(Metrics(self.step, values))

    def kinds(self) -> list[str]:
        return [a.kind for a in self.alerts]


def test_d_wins_fires_once_per_episode_and_rearms_after_recovery():
    s = Stream(HealthMonitor(_cfg()))  # loss_d < 0.05 for 20 intervals
    s.stats(19, loss_d=0.01)
    assert s.alerts == []
    s.stats(1, loss_d=0.01, d_real=0.99, d_fake=0.01)
    (alert,) = s.alerts
    assert alert.kind == "d_wins" and alert.step == 200
    assert "0.05" in alert.message and "20 logged intervals" in alert.message and "0.990" in alert.message
    assert alert.evidence["loss_d"] == 0.01 and alert.evidence["intervals"] == 20
    s.stats(30, loss_d=0.01)  # the same episode goes on
    s.stats(3)  # a short recovery does not end it...
    s.stats(20, loss_d=0.01)
    assert s.kinds() == ["d_wins"]
    s.stats(RECOVER)  # ...a long one does
    s.stats(19, loss_d=0.01)
    assert s.kinds() == ["d_wins"]
    s.stats(1, loss_d=0.01)
    assert s.kinds() == ["d_wins", "d_wins"]


def test_d_wins_needs_consecutive_intervals_and_skips_wgan_gp():
    s = Stream(HealthMonitor(_cfg()))
    for _ in range(10):
        s.stats(15, loss_d=0.01)
        s.stats(1)
    assert s.alerts == []
    s = Stream(HealthMonitor(_cfg(**{"loss.kind": "wgan-gp"})))
    s.stats(50, loss_d=-5.0)
    assert s.alerts == []
    s = Stream(HealthMonitor(_cfg(**{"health.d_wins_loss": 0.0})))
    s.stats(50, loss_d=0.0)
    assert s.alerts == []
    s = Stream(HealthMonitor(_cfg(**{"health.d_wins_window": 3, "health.d_wins_loss": 0.5})))
    s.stats(3, loss_d=0.4)
    assert s.kinds() == ["d_wins"]


def test_grad_explode_against_the_running_median():
    s = Stream(HealthMonitor(_cfg()))  # 50x the median of the last 50 intervals
    s.stats(MIN_HISTORY, grad_d=1.0)
    s.stats(1, grad_d=40.0)  # 40x: noisy, not exploding
    assert s.alerts == []
    s.stats(1, grad_d=80.0)
    (alert,) = s.alerts
    assert alert.kind == "grad_explode" and "grad_d = 80" in alert.message and "80x" in alert.message
    assert alert.evidence["grad_d"] == 80.0 and alert.evidence["median"] == 1.0
    s.stats(2, grad_d=100.0)
    s.stats(RECOVER, grad_d=1.0)
    s.stats(1, grad_g=90.0)  # grad_g's own median is 0.3
    assert s.kinds() == ["grad_explode", "grad_explode"] and "grad_g" in s.alerts[1].message


def test_grad_explode_waits_for_a_history_but_not_for_the_absolute_limit():
    s = Stream(HealthMonitor(_cfg()))
    s.stats(1, grad_g=0.001)
    s.stats(MIN_HISTORY - 2, grad_g=0.5)  # early growth: 500x the first value, no median yet
    assert s.alerts == []
    s = Stream(HealthMonitor(_cfg()))
    s.stats(1, grad_g=1.2e6)  # above health.grad_max from the first interval
    assert s.kinds() == ["grad_explode"] and "1.2e+06" in s.alerts[0].message
    s = Stream(HealthMonitor(_cfg(**{"health.grad_max": 0.0, "health.grad_factor": 0.0})))
    s.stats(GRAD_WINDOW)
    s.stats(1, grad_d=1e9)
    assert s.alerts == []


def test_collapse_from_diversity_and_from_coverage():
    s = Stream(HealthMonitor(_cfg()))  # diversity < 0.25, coverage down by more than 35%
    s.metrics(diversity=0.9, classes_covered=10.0)
    s.metrics(diversity=0.1, classes_covered=10.0)
    (alert,) = s.alerts
    assert alert.kind == "collapse" and "0.10x" in alert.message and alert.evidence["diversity"] == 0.1
    s.metrics(diversity=0.1, classes_covered=10.0)  # same episode
    s.metrics(diversity=0.9, classes_covered=10.0)  # recovered: re-armed
    s.metrics(diversity=0.9, classes_covered=7.0)  # 10 -> 7: within 35% (early runs wobble so)
    assert s.kinds() == ["collapse"]
    s.metrics(diversity=0.9, classes_covered=6.0)
    assert s.kinds() == ["collapse", "collapse"]
    assert "classes covered fell from 10 to 6" in s.alerts[1].message
    assert s.alerts[1].evidence == {"classes_covered": 6.0, "best_classes_covered": 10.0}

    s = Stream(HealthMonitor(_cfg()))
    for modes in (2.0, 5.0, 8.0, 8.0, 7.0, 6.0):
        s.metrics(modes_covered=modes, diversity=1.0)
    assert s.alerts == []
    s.metrics(modes_covered=5.0, diversity=1.0)
    assert s.kinds() == ["collapse"] and "modes covered fell from 8 to 5" in s.alerts[0].message


def test_non_finite_values_and_live_threshold_changes():
    monitor = HealthMonitor(_cfg())
    s = Stream(monitor)
    s.stats(30, loss_d=math.nan, grad_d=math.inf, grad_g=math.nan)
    s.metrics(diversity=math.nan)
    assert s.alerts == []
    monitor.cfg = _cfg(**{"health.collapse_diversity": 0.95})
    s.metrics(diversity=0.9)
    assert s.kinds() == ["collapse"]


# --- real runs ---------------------------------------------------------------------------------


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _run(cfg: Config, stop_on_pause: bool = True) -> list:
    t = Trainer(cfg, dataset=dataset_for(cfg.data, cfg.train.seed))
    control = Control()
    events = []
    for ev in t.run(control):
        events.append(ev)
        if isinstance(ev, Paused) and ev.reason and stop_on_pause:
            control.stop()
    return events


def test_a_healthy_default_run_raises_no_alert(one_thread, tmp_path, monkeypatch):
    """The default digits config, metrics on: no alert of any kind (about 10 s on a CPU)."""
    monkeypatch.setenv("GANSTUDIO_CACHE_DIR", str(tmp_path))
    cfg = _cfg(
        **{
            "train.steps": 800,
            "train.threads": 1,
            "train.device": "cpu",
            "log.sample_every": 0,
            "log.checkpoint_every": 0,
            "metrics.every": 200,
            "metrics.samples": 500,
        }
    )
    events = _run(cfg, stop_on_pause=False)
    assert not of_type(events, Alert), of_type(events, Alert)
    assert not of_type(events, Paused)
    metrics = of_type(events, Metrics)
    assert metrics and metrics[-1].step == 800 and metrics[-1].values["classes_covered"] >= 8
    # Training works, as the metrics see it: the Fréchet distance falls from the first evaluation.
    assert metrics[-1].values["fd"] < metrics[0].values["fd"], [m.values["fd"] for m in metrics]


def test_a_huge_discriminator_learning_rate_raises_an_alert(one_thread):
    cfg = _cfg(
        **{
            "optim.lr_d": 1.0,
            "train.steps": 100,
            "train.threads": 1,
            "train.device": "cpu",
            "log.sample_every": 0,
            "log.checkpoint_every": 0,
            "metrics.every": 0,
        }
    )
    events = _run(cfg)
    alerts = of_type(events, Alert)
    paused = [p for p in of_type(events, Paused) if p.reason]
    assert alerts or paused
    assert [a.kind for a in alerts][:1] == ["grad_explode"] and alerts[0].step <= 50, alerts
