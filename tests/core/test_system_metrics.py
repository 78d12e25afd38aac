"""System lines (events.System): the sampler, when a run writes them, how they are read back and
reduced into the history, the runs listing's hosts and devices, and a torchrun job's ranks."""

from __future__ import annotations

import builtins
import itertools
import socket

import numpy as np
import pytest

from ganstudio.core.config import ConfigError, with_values
from ganstudio.core.config.validate import check_value
from ganstudio.core.run import listing
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import RecordError, Stats, StatsBlock, System, from_record
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import LogReader, RunWriter, read_metrics, read_run
from ganstudio.core.run.state import RunState
from ganstudio.core.run.system import SystemSampler
from tests.core.conftest import of_type
from tests.core.test_distributed import QUIET, finish, torchrun


def fast_clock(trainer) -> None:
    """Every look at the clock is 100 s after the last: a system line is due at every log interval."""
    trainer.system._clock = itertools.count(0.0, 100.0).__next__


# ----- the sampler -------------------------------------------------------------------------------


def test_the_sampler_reads_this_process_and_says_where_it_runs():
    sampler = SystemSampler("cpu")
    first = sampler.read()
    assert set(first) == set(System.FIELDS)
    assert first["rss_mb"] > 10 and first["cpu_percent"] >= 0  # the first covers the process's life
    sum(i * i for i in range(300_000))  # some CPU time for the next reading's window
    second = sampler.read()
    assert second["cpu_percent"] > 0
    assert [second[k] for k in ("gpu_util", "gpu_mem_mb", "gpu_mem_reserved_mb")] == [None, None, None]
    host, devices = sampler.where()
    assert host == socket.gethostname() and devices[0].startswith("cpu (")


def test_a_gpu_run_without_a_gpu_or_nvml_reads_none_and_never_fails(monkeypatch):
    real_import = builtins.__import__

    def no_nvml(name, *args, **kw):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_nvml)
    sampler = SystemSampler("cuda:0")  # CUDA is never started here: no reading needs it
    readings = sampler.read()
    assert readings["rss_mb"] > 0
    assert [readings[k] for k in ("gpu_util", "gpu_mem_mb", "gpu_mem_reserved_mb")] == [None, None, None]
    assert sampler.where()[1] in (("cuda",),) or sampler.where()[1][0].startswith("cuda:")


# ----- the line, written and read back -----------------------------------------------------------


def test_a_system_line_reads_back_as_the_event_it_was(tmp_path, tiny_config):
    gpu = {"gpu_util": 35.0, "gpu_mem_mb": 1024.0, "gpu_mem_reserved_mb": 2048.0}
    events = [
        System(
            step=0, time=1.5, rank=0, cpu_percent=12.5, rss_mb=700.1, host="box", devices=("cpu (2 cores)",)
        ),
        System(step=4, time=2.5, rank=1, rss_mb=701.0, host="gpu-box", devices=("cuda:1 H100",), **gpu),
    ]
    folder = RunFolder(tmp_path)
    with RunWriter(folder, tiny_config("digits")) as log:
        for ev in events:
            log.handle(ev)
    records = read_metrics(folder.metrics_path)
    assert records[0] == {
        "event": "system",
        "step": 0,
        "time": 1.5,
        "rank": 0,
        "cpu_percent": 12.5,
        "rss_mb": 700.1,
        "host": "box",
        "devices": ["cpu (2 cores)"],
    }
    assert "cpu_percent" not in records[1]  # a reading not made is absent
    assert LogReader(folder).read() == events


def test_a_malformed_system_line_is_a_record_error_not_a_crash():
    with pytest.raises(RecordError, match="system"):
        from_record({"event": "system", "step": 3, "rss_mb": "lots"})
    with pytest.raises(RecordError, match="devices"):
        from_record({"event": "system", "step": 3, "devices": "cpu"})


# ----- the reducer ------------------------------------------------------------------------------


def test_readings_land_on_the_next_stats_point_and_no_point_is_added():
    state = RunState()
    state.apply(System(step=0, time=0.0, rank=0, rss_mb=500.0, host="a"))  # the run's start
    state.apply(System(step=0, time=0.0, rank=1, rss_mb=600.0, host="b"))
    state.apply(Stats(step=2, epoch=0.0, wall=1.0, values={"loss_d": 1.0}))
    state.apply(Stats(step=4, epoch=0.0, wall=2.0, values={"loss_d": 1.0}))
    state.apply(System(step=6, time=0.0, rank=0, rss_mb=510.0, cpu_percent=90.0, host="a"))
    block = StatsBlock(np.array([6, 8]), np.zeros(2), np.array([3.0, 4.0]), {"loss_d": np.ones(2)})
    change = state.apply(block)
    assert "stats" in change
    h = state.history
    assert h.steps().tolist() == [2, 4, 6, 8]
    np.testing.assert_array_equal(h.series("system.rss_mb.rank0"), [500.0, np.nan, 510.0, np.nan])
    np.testing.assert_array_equal(h.series("system.rss_mb.rank1"), [600.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(h.series("system.cpu_percent.rank0"), [np.nan, np.nan, 90.0, np.nan])
    assert state.last_stats.values == {"loss_d": 1.0}  # the stats are the stats
    assert {r: s.host for r, s in state.system.items()} == {0: "a", 1: "b"}


# ----- a run ------------------------------------------------------------------------------------


def test_a_run_writes_system_lines_at_its_start_and_before_the_stats_they_land_on(
    tiny_config, make_trainer, tmp_path
):
    cfg = tiny_config("digits", steps=6, every=2)
    folder = RunFolder.create(cfg, out=tmp_path)
    trainer = make_trainer(cfg)
    fast_clock(trainer)
    with RunWriter(folder, cfg) as log:
        for ev in trainer.run():
            log.handle(ev)
    records = read_metrics(folder.metrics_path)
    kinds = [(r["event"], r["step"]) for r in records if r["event"] in ("started", "system", "stats")]
    assert kinds == [
        ("started", 0),
        ("system", 0),
        ("system", 2),
        ("stats", 2),
        ("system", 4),
        ("stats", 4),
        ("system", 6),
        ("stats", 6),
    ]
    line = next(r for r in records if r["event"] == "system")
    assert line["rank"] == 0 and line["host"] == socket.gethostname() and line["rss_mb"] > 0
    assert "gpu_util" not in line  # a CPU run
    # Read back, the folder's state is the trainer's own: the same points, the same series.
    state = read_run(folder)
    assert state.history.steps().tolist() == trainer.history.steps().tolist() == [2, 4, 6]
    for key in ("system.rss_mb.rank0", "system.cpu_percent.rank0"):
        np.testing.assert_array_equal(state.history.series(key), trainer.history.series(key))
    last = [r for r in records if r["event"] == "system"][-1]
    assert state.system[0] == trainer.state.system[0] == from_record(last)


def test_system_every_0_writes_none_and_a_live_edit_turns_them_on(tiny_config, make_trainer):
    cfg = tiny_config("digits", {"log.system_every": 0}, steps=8, every=2)
    trainer = make_trainer(cfg)
    fast_clock(trainer)
    control = Control()
    events = []
    for ev in trainer.run(control):
        events.append(ev)
        if isinstance(ev, Stats) and ev.step == 4:
            control.update_values({"log.system_every": 5})
    assert [e.step for e in of_type(events, System)] == [6, 8]


def test_log_system_every_is_validated_with_what_to_do(tiny_config):
    assert "must be a number >= 0 and <= 86400" in check_value("log.system_every", -1)
    assert "is a str" in check_value("log.system_every", "ten")
    assert check_value("log.system_every", 2.5) is None
    with pytest.raises(ConfigError, match="log.system_every"):
        from ganstudio.core.config import validate

        validate(with_values(tiny_config("digits"), {"log.system_every": float("inf")}))


def test_the_runs_listing_says_where_a_run_trains(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config("digits", steps=2, every=2)
    folder = RunFolder.create(cfg, out=tmp_path)
    with RunWriter(folder, cfg) as log:
        for ev in make_trainer(cfg).run():
            log.handle(ev)
        log.handle(System(step=2, time=0.0, rank=1, host="other", devices=("cuda:1 X",)))
    info = listing.describe(folder.path)
    assert info.hosts == (socket.gethostname(), "other") and info.devices[1] == "cuda:1 X"
    assert info.devices[0].startswith("cpu (") and info.problem == ""


# ----- torchrun ---------------------------------------------------------------------------------


def test_rank_0_writes_the_system_lines_of_every_rank(tmp_path):
    job = tmp_path / "job"
    args = ["--steps", "12", "--set", "log.every=2", "--set", "log.system_every=0.001", *QUIET]
    code, _, err = finish(
        torchrun("--run-dir", str(job), "--set", "train.threads=1", "--set", "train.batch_size=32", *args)
    )
    assert code == 0, err
    records = read_metrics(RunFolder(job).metrics_path)
    lines = [r for r in records if r["event"] == "system"]
    by_step: dict[int, list[int]] = {}
    for r in lines:
        by_step.setdefault(r["step"], []).append(r["rank"])
        assert r["rss_mb"] > 0 and r["cpu_percent"] >= 0 and r["host"] == socket.gethostname()
        assert r["devices"][0].startswith("cpu (")
    assert by_step.pop(0) == [0, 1]  # when the job starts, every rank's
    assert by_step and all(ranks == [0, 1] for ranks in by_step.values())  # then at log intervals
    stats_steps = [r["step"] for r in records if r["event"] == "stats"]
    assert set(by_step) <= set(stats_steps)
    state = read_run(RunFolder(job))
    assert state.history.steps().tolist() == stats_steps  # no point of their own
    assert np.isfinite(state.history.series("system.rss_mb.rank1")).sum() >= len(by_step)


def test_your_own_loop_writes_system_lines_before_the_stats_they_land_on(tmp_path):
    """ganstudio.init: a system line at its first flush, then once log.system_every has passed (a
    microsecond: at every flush), each before its stats line; log.system_every = 0: none."""
    import ganstudio

    run = ganstudio.init(out=tmp_path, name="mine", config={"log.every": 2, "log.system_every": 1e-6})
    for step in range(1, 7):
        run.log(step, loss_d=0.5)
        run.tick(step)
    run.finish()
    records = read_metrics(run.folder.metrics_path)
    kinds = [(r["event"], r["step"]) for r in records if r["event"] in ("system", "stats")]
    assert kinds == [("system", 2), ("stats", 2), ("system", 4), ("stats", 4), ("system", 6), ("stats", 6)]
    line = next(r for r in records if r["event"] == "system")
    assert line["rank"] == 0 and line["host"] == socket.gethostname() and line["rss_mb"] > 0
    state = read_run(run.folder)
    assert len(state.history.series("system.rss_mb.rank0")) == 3

    default = ganstudio.init(out=tmp_path, name="default", config={"log.every": 2})  # every 10 s
    for step in range(1, 5):
        default.log(step, loss_d=0.5)
        default.tick(step)
    default.finish()
    assert [r["step"] for r in read_metrics(default.folder.metrics_path) if r["event"] == "system"] == [2]

    off = ganstudio.init(out=tmp_path, name="off", config={"log.every": 2, "log.system_every": 0})
    for step in range(1, 5):
        off.log(step, loss_d=0.5)
        off.tick(step)
    off.finish()
    assert not [r for r in read_metrics(off.folder.metrics_path) if r["event"] == "system"]
