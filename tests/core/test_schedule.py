"""The loop's timetable (core/train/schedule.py) on its own: a pure function of the config and the
process's place in its job, checked without torch or a trainer."""

from __future__ import annotations

import subprocess
import sys

from ganstudio.core.config import Config, with_values
from ganstudio.core.train.schedule import Due, Schedule, World


def config(**values) -> Config:
    keys = {
        "steps": "train.steps",
        "every": "log.every",
        "sample_every": "log.sample_every",
        "checkpoint_every": "log.checkpoint_every",
        "metrics_every": "metrics.every",
    }
    return with_values(Config(), {keys[k]: v for k, v in values.items()})


CFG = config(steps=100, every=10, sample_every=25, checkpoint_every=50, metrics_every=20)


def due_steps(schedule: Schedule, field: str, **kw) -> list[int]:
    return [s for s in range(1, schedule.cfg.train.steps + 1) if getattr(schedule.due(s, **kw), field)]


def test_each_interval_is_due_at_its_multiples():
    s = Schedule(CFG)
    assert due_steps(s, "samples") == [25, 50, 75, 100]
    assert due_steps(s, "metrics") == [20, 40, 60, 80, 100]
    # The last checkpoint step is also a metrics step at the run's end: the final checkpoint comes
    # after those metrics (the loop's end saves it), so the interval's is not due there.
    assert due_steps(s, "checkpoint") == [50]
    # Stats at every log interval, at every metrics step and at the end.
    assert due_steps(s, "stats") == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert Schedule(config(steps=95, every=10)).due(95).stats  # the end, between intervals


def test_zero_means_never():
    s = Schedule(config(steps=100, every=10, sample_every=0, checkpoint_every=0, metrics_every=0))
    assert due_steps(s, "samples") == due_steps(s, "metrics") == due_steps(s, "checkpoint") == []
    assert not s.samples_at_start(0)


def test_a_single_step_shows_its_stats_and_samples():
    d = Schedule(CFG).due(7, single=True)
    assert d == Due(stats=True, samples=True, checkpoint=False, metrics=False, health=True)


def test_nothing_is_evaluated_or_saved_from_broken_weights():
    s = Schedule(CFG)
    assert s.due(50).checkpoint and s.due(40).metrics
    assert not s.due(50, broken=True).checkpoint and not s.due(40, broken=True).metrics
    assert s.due(40, broken=True).stats  # the stats still say what happened


def test_without_a_checkpoint_folder_no_checkpoint_is_due():
    assert due_steps(Schedule(CFG, checkpoints=False), "checkpoint") == []


def test_rank_0_writes_every_rank_logs_and_checkpoints():
    main, other = Schedule(CFG, World(0, 2)), Schedule(CFG, World(1, 2))
    for step in range(1, 101):
        a, b = main.due(step), other.due(step)
        # What every rank must do together (averaging stats and losses are collectives).
        assert (a.stats, a.checkpoint) == (b.stats, b.checkpoint)
        assert not (b.samples or b.metrics or b.health)
        assert a.health
    assert main.samples_at_start(0) and not other.samples_at_start(0) and not main.samples_at_start(5)


def test_a_live_edit_changes_the_timetable():
    s = Schedule(CFG)
    edited = s.for_config(with_values(CFG, {"log.sample_every": 10}))
    assert due_steps(edited, "samples") == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert s.for_config(CFG) is s


def test_the_schedule_needs_no_torch():
    code = (
        "import sys; from ganstudio.core.train.schedule import Schedule; from ganstudio.core.config "
        "import Config; Schedule(Config()).due(10); assert 'torch' not in sys.modules, 'torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
