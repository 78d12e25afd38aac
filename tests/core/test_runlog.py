"""The run folder written from the event stream (RunWriter), and read back (LogReader, Follower)."""

from __future__ import annotations

import json
import math
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import load, with_values
from ganstudio.core.image import scatter_png
from ganstudio.core.run.events import (
    Alert,
    CheckpointFailed,
    Failed,
    Finished,
    Heartbeat,
    HyperparamsChanged,
    Marker,
    Paused,
    Resumed,
    RunStarted,
    Samples,
    SourceStatus,
    Stale,
    Stats,
    StatsBlock,
)
from ganstudio.core.run.folder import CONFIG, METRICS, RunFolder
from ganstudio.core.run.follow import Follower
from ganstudio.core.run.log import LogReader, RunWriter, read_metrics, read_run
from ganstudio.core.run.state import FINISHED, RunState
from tests.core.conftest import of_type


def _strict_json(line: str):
    """json.loads that refuses NaN/Infinity, as a browser or jq would."""

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(line, parse_constant=refuse)


def _logged_run(cfg, trainer, run_dir):
    log = RunWriter(RunFolder(run_dir), cfg)
    events = []
    for ev in trainer.run():
        log.handle(ev)
        events.append(ev)
    log.close()
    return events


def test_run_folder_of_an_image_run(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config("digits", steps=4, every=1, sample_every=2, checkpoint_every=2)
    folder = RunFolder.create(cfg, out=tmp_path, now=0)
    run_dir = folder.path
    assert run_dir.parent == tmp_path and run_dir.name.endswith("-digits-mlp-nonsaturating")
    assert folder.meta()["format"] == "ganstudio-run" and folder.version_problem() is None
    t = make_trainer(cfg, checkpoint_dir=run_dir / "checkpoints")
    events = _logged_run(cfg, t, run_dir)

    assert load(run_dir / CONFIG) == cfg and folder.load_config() == cfg
    lines = (run_dir / METRICS).read_text().splitlines()
    records = [_strict_json(line) for line in lines]
    assert all("event" in r and "step" in r for r in records)
    assert records[0]["event"] == "started" and records[0]["total_steps"] == 4
    assert records[-1] == {"event": "finished", "step": 4, "reason": "completed"}
    stats = of_type(events, Stats)
    logged = [r for r in records if r["event"] == "stats"]
    assert len(logged) == len(stats) == 4
    for r, s in zip(logged, stats, strict=True):
        assert r["step"] == s.step and r["epoch"] == s.epoch and r["wall"] == s.wall
        assert {k: r[k] for k in s.values} == s.values
    assert [r["step"] for r in records if r["event"] == "checkpoint"] == [2, 4]
    # Checkpoint paths are relative to the folder, so the log survives a sync to another machine.
    assert [r["path"] for r in records if r["event"] == "checkpoint"] == [
        "checkpoints/step-000000002.pt",
        "checkpoints/step-000000004.pt",
    ]
    assert [r["file"] for r in records if r["event"] == "samples"] == [
        f"samples/step-00000000{i}.png" for i in (0, 2, 4)
    ]

    grids = folder.sample_timeline()
    assert [step for step, _ in grids] == [0, 2, 4]
    assert [step for step, _ in folder.sample_timeline(up_to_step=2)] == [0, 2]
    sample_events = of_type(events, Samples)
    for (_, png), ev in zip(grids, sample_events, strict=True):
        with Image.open(png) as img:
            assert img.size == (73, 73) and img.mode == "L"
            assert np.array_equal(np.asarray(img), ev.grid[:, :, 0])
    latest = run_dir / "checkpoints" / "latest.pt"
    assert checkpoints.load(latest)["step"] == 4
    assert folder.latest_checkpoint() == latest
    assert RunFolder.of_checkpoint(latest).path == run_dir.resolve()
    assert RunFolder.of_checkpoint(tmp_path / "loose.pt") is None


def test_a_folder_read_back_is_the_trainers_state(tiny_config, make_trainer, tmp_path):
    """The one run model: the state a reader builds from the folder equals the trainer's own."""
    cfg = tiny_config("digits", steps=6, every=1, sample_every=3, checkpoint_every=3)
    folder = RunFolder.create(cfg, out=tmp_path)
    t = make_trainer(cfg, checkpoint_dir=folder.checkpoints_dir)
    log = RunWriter(folder, cfg)
    from ganstudio.core.run.control import Control

    control = Control()
    control.update_values({"optim.lr_g": 1e-3})
    for ev in t.run(control):
        log.handle(ev)
        if isinstance(ev, Stats) and ev.step == 2:
            log.handle(Alert(step=2, kind="d_wins", message="D wins"))
            t.state.apply(Alert(step=2, kind="d_wins", message="D wins"))
    log.close()
    state = read_run(folder)
    assert state.status == FINISHED and state.step == 6 == t.step
    np.testing.assert_array_equal(state.history.steps(), t.history.steps())
    for key in t.history.keys:
        np.testing.assert_array_equal(state.history.series(key), t.history.series(key))
    assert [(m.step, m.kind) for m in state.history.markers] == [(m.step, m.kind) for m in t.history.markers]
    assert [a.kind for a in state.alerts] == ["d_wins"]
    assert state.config.optim.lr_g == 1e-3 == t.cfg.optim.lr_g
    assert [c.step for c in state.checkpoints] == [3, 6]
    assert state.latest_samples.step == 6


def test_run_folder_of_a_2d_run(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config("ring8", steps=2, sample_every=2)
    t = make_trainer(cfg)
    run_dir = tmp_path / "run"
    folder = RunFolder(run_dir)
    log = RunWriter(folder, cfg, reference_points=t.data.x[:500].numpy())
    events = []
    for ev in t.run():
        log.handle(ev)
        events.append(ev)
    log.close()
    for ev in of_type(events, Samples):
        stem = run_dir / "samples" / f"step-{ev.step:09d}"
        points = np.load(stem.with_suffix(".npy"))
        assert points.shape == (1024, 2) and points.dtype == np.float32
        assert np.array_equal(points, ev.points)
        with Image.open(stem.with_suffix(".png")) as img:
            assert img.size == (400, 400) and img.mode == "RGB"
            colours = {c for _, c in img.getcolors(maxcolors=1 << 16)}
        assert (31, 119, 180) in colours and (190, 190, 190) in colours  # samples over the data
    # Read back: the points and the 2D lab's field and arrows.
    read = of_type(LogReader(folder).read(), Samples)
    assert [s.step for s in read] == [s.step for s in of_type(events, Samples)]
    last = of_type(events, Samples)[-1]
    np.testing.assert_array_equal(read[-1].points, last.points)
    np.testing.assert_array_equal(read[-1].field, last.field)
    np.testing.assert_array_equal(read[-1].arrows, last.arrows)
    assert read[-1].extent == tuple(last.extent)


def test_scatter_png_skips_non_finite_points():
    pts = np.array([[0.0, 0.0], [np.nan, 1.0], [np.inf, 0.0], [1.0, -1.0]], dtype=np.float32)
    img = scatter_png(pts, size=50)
    px = np.asarray(img)
    blue = (px == (31, 119, 180)).all(axis=2)
    assert blue[44:49, 44:49].any() and blue[22:27, 22:27].any()  # (1, -1) bottom right; (0, 0)
    assert not blue[:20].any()  # nothing above the middle: NaN and inf rows were skipped
    assert np.asarray(scatter_png(np.full((3, 2), np.nan, dtype=np.float32), size=20)).min() == 255


def test_every_event_kind_is_one_json_line(tiny_config, tmp_path):
    cfg = tiny_config("digits")
    with RunWriter(RunFolder(tmp_path), cfg) as log:
        values = {"loss_d": math.nan, "loss_g": math.inf, "d_real": 0.25, "grad_d": -math.inf}
        log.handle(Stats(step=3, epoch=0.5, wall=1.0, values=values))
        log.handle(Alert(step=3, kind="nan", message="bad", evidence={"x": math.nan, "y": 2.0}))
        log.handle(Paused(step=3, reason="loss_d became NaN"))
        log.handle(Resumed(step=3))
        log.handle(CheckpointFailed(step=3, path="p", message="disk full"))
        log.handle(Failed(step=4, message="RuntimeError: x", traceback="Traceback ..."))
    records = [_strict_json(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    assert records[0] == {
        "event": "stats",
        "step": 3,
        "epoch": 0.5,
        "wall": 1.0,
        "loss_d": None,
        "loss_g": None,
        "d_real": 0.25,
        "grad_d": None,
    }
    assert records[1]["evidence"] == {"x": None, "y": 2.0}
    assert [r["event"] for r in records] == [
        "stats",
        "alert",
        "paused",
        "resumed",
        "checkpoint_failed",
        "failed",
    ]
    assert records[2]["reason"] == "loss_d became NaN" and records[5]["traceback"] == "Traceback ..."


def test_hparams_change_rewrites_config(tiny_config, tmp_path):
    cfg = tiny_config("digits")
    with RunWriter(RunFolder(tmp_path), cfg) as log:
        log.handle(HyperparamsChanged(step=7, changes={"optim.lr_g": (2e-4, 1e-3), "optim.d_steps": (1, 3)}))
    assert load(tmp_path / CONFIG) == with_values(cfg, {"optim.lr_g": 1e-3, "optim.d_steps": 3})
    (rec,) = read_metrics(tmp_path / METRICS)
    assert rec == {
        "event": "hparams",
        "step": 7,
        "changes": {"optim.lr_g": [2e-4, 1e-3], "optim.d_steps": [1, 3]},
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", CONFIG, METRICS, "samples"]


def test_write_history_replays_a_resumed_run(tiny_config, tmp_path):
    state = RunState()
    state.apply(Stats(step=10, epoch=0.1, wall=1.0, values={"loss_d": 1.5, "loss_g": math.nan}))
    state.apply(Stats(step=20, epoch=0.2, wall=2.0, values={"loss_d": 1.25, "loss_g": 0.5}))
    state.apply(Marker(15, "hparams", "optim.lr_g: 0.0002 → 0.001"))
    state.apply(Alert(step=18, kind="d_wins", message="D wins"))
    with RunWriter(RunFolder(tmp_path), tiny_config("digits")) as log:
        log.write_history(state)
        log.handle(Finished(step=20, reason="completed"))
    records = [_strict_json(line) for line in (tmp_path / METRICS).read_text(encoding="utf-8").splitlines()]
    assert records[0] == {
        "event": "stats",
        "step": 10,
        "epoch": 0.1,
        "wall": 1.0,
        "loss_d": 1.5,
        "loss_g": None,
    }
    assert records[1]["loss_g"] == 0.5
    assert records[2] == {
        "event": "marker",
        "step": 15,
        "kind": "hparams",
        "text": "optim.lr_g: 0.0002 → 0.001",
    }
    assert records[3]["event"] == "alert" and records[3]["kind"] == "d_wins"
    assert records[4]["event"] == "finished"
    back = read_run(RunFolder(tmp_path))  # the alert comes back as an alert and a marker
    assert [a.kind for a in back.alerts] == ["d_wins"]
    assert [m.kind for m in back.history.markers] == ["hparams", "d_wins"]


def test_create_is_unique(tiny_config, tmp_path):
    cfg = with_values(tiny_config("ring8"), {"log.name": "mine", "log.out": str(tmp_path / "runs")})
    a = RunFolder.create(cfg, now=1e9).path
    b = RunFolder.create(cfg, now=1e9).path
    assert a.parent == b.parent == tmp_path / "runs"
    assert a.name.endswith("-mine") and b.name == a.name + "-1" and a.is_dir() and b.is_dir()


def test_a_newer_format_is_named(tmp_path):
    folder = RunFolder(tmp_path)
    folder.meta_path.write_text(json.dumps({"format": "ganstudio-run", "version": 99}))
    assert "newer GAN Studio" in folder.version_problem()
    folder.meta_path.write_text("[1, 2")
    assert "cannot be read" in folder.version_problem()


# --- reading a live metrics.jsonl ----------------------------------------------------------------------


def test_read_metrics_ignores_a_partial_last_line(tmp_path):
    path = tmp_path / METRICS
    path.write_text(
        '{"event": "started", "step": 0}\n{"event": "stats", "step": 1, "loss_d": null}\n'
        '{"event": "stats", "st'
    )
    assert read_metrics(path) == [
        {"event": "started", "step": 0},
        {"event": "stats", "step": 1, "loss_d": None},
    ]
    path.write_text("")
    assert read_metrics(path) == []


def _stats_steps(events) -> list[int]:
    out = []
    for ev in events:
        if isinstance(ev, StatsBlock):
            out += ev.steps.tolist()
    return out


def test_reader_waits_for_the_rest_of_a_half_written_line(tmp_path):
    folder = RunFolder(tmp_path)
    path = folder.metrics_path
    path.write_text("")
    reader = LogReader(folder)
    got = []
    with open(path, "a", encoding="utf-8") as f:
        for i in range(1, 6):
            line = json.dumps({"event": "stats", "step": i, "loss_d": i / 4}) + "\n"
            f.write(line[: len(line) // 2])
            f.flush()
            got += reader.read()  # half a line: nothing yet
            assert _stats_steps(got) == list(range(1, i))
            f.write(line[len(line) // 2 :])
            f.flush()
            got += reader.read()
            assert _stats_steps(got) == list(range(1, i + 1))
    block = got[-1]
    assert block.values["loss_d"].tolist() == [1.25]


def test_reader_recovers_a_torn_line_and_survives_foreign_ones(tmp_path):
    folder = RunFolder(tmp_path)
    folder.metrics_path.write_text(
        '{"event": "started", "step": 0, "total_steps": 10}\n'
        '{"event": "stats", "step": 1, "loss_d": 1.0}\n'
        '{"event": "st'  # a process died mid-line; a restart appended a whole line after it
        '{"event": "stats", "step": 2, "loss_d": 2.0}\n'
        "[1, 2, 3]\n"
        '{"event": "from the future", "step": 3}\n'
        "not json at all\n"
        '{"event": "stats", "step": 3, "loss_d": 3.0}\n'
    )
    follower = Follower(folder)
    events = follower.poll()
    assert _stats_steps(events) == [1, 2, 3]
    damaged = [e for e in events if isinstance(e, SourceStatus)]
    assert damaged and damaged[0].state == "damaged" and "4 lines" in damaged[0].message


def test_reading_in_chunks_gives_the_same_run_as_one_pass(tmp_path, monkeypatch):
    """The reader parses a long log a chunk of lines at a time: runs of stats lines that cross a
    chunk's end, other events between them, a torn line and the sample timeline's thinning (over
    the whole log, the last grid kept) come out the same as when everything is one chunk."""
    from ganstudio.core.run import log as runlog

    folder = RunFolder(tmp_path)
    _mixed_log(folder)
    whole = _read_all(folder, monkeypatch)
    assert whole[2] == 1 and whole[0].history.steps().tolist() == list(range(1, 301))
    assert len(whole[1]) == 5 and whole[1][-1] == 300  # thinned over the whole log, the last kept
    for chunk in (1, 7, 64):
        monkeypatch.setattr(runlog, "PARSE_CHUNK", chunk)
        _same_run(_read_all(folder, monkeypatch), whole)


def _mixed_log(folder: RunFolder, n: int = 300) -> None:
    lines = ['{"event": "started", "step": 0, "total_steps": 1000}']
    for i in range(1, n + 1):
        lines.append(
            json.dumps(
                {
                    "event": "stats",
                    "step": i,
                    "wall": i / 10,
                    "loss_d": 1.0 / i,
                    "loss_g": None if i % 9 == 0 else float(i),
                }
            )
        )
        if i % 10 == 0:
            lines.append(json.dumps({"event": "metrics", "step": i, "fd": float(i)}))
        if i % 4 == 0:
            lines.append(json.dumps({"event": "samples", "step": i}))
    lines.insert(len(lines) * 3 // 4, '{"event": "st')  # a torn line, in the second half
    folder.metrics_path.write_text("\n".join(lines) + "\n" + '{"event": "stats", "st')  # + one being written


def _read_all(folder: RunFolder, monkeypatch) -> tuple:
    reader = LogReader(folder, points=False, timeline_limit=5)
    seen = []
    monkeypatch.setattr(reader, "_samples", lambda rec: seen.append(rec["step"]))
    state = RunState()
    for ev in reader.read():
        state.apply(ev)
    return state, seen, reader.damaged, reader.lines


def _same_run(a: tuple, b: tuple) -> None:
    (sa, seen_a, bad_a, lines_a), (sb, seen_b, bad_b, lines_b) = a, b
    assert (seen_a, bad_a, lines_a) == (seen_b, bad_b, lines_b)
    assert sa.history.steps().tolist() == sb.history.steps().tolist()
    for key in ("loss_d", "loss_g", "fd"):
        np.testing.assert_array_equal(sa.history.series(key), sb.history.series(key))


def test_a_long_first_read_parses_half_in_a_helper_process_and_gets_the_same_run(tmp_path, monkeypatch):
    """A long log's first read hands its second half to a helper process (two cores): the run, the
    damaged-line count and the timeline's thinning are those of one process reading it all; the
    line still being written stays for the next read."""
    from ganstudio.core.run import log as runlog

    folder = RunFolder(tmp_path)
    _mixed_log(folder)
    one = _read_all(folder, monkeypatch)
    assert one[2] == 1 and one[0].history.steps().tolist() == list(range(1, 301))
    helpers = []
    start = runlog._Helper.start

    def spy(*args):
        helpers.append(start(*args))
        return helpers[-1]

    monkeypatch.setattr(runlog._Helper, "start", spy)
    monkeypatch.setattr(runlog, "PARALLEL_MIN_BYTES", 1000)
    monkeypatch.setattr(runlog.threads, "usable_cores", lambda: 2)
    results = []
    real_result = runlog._Helper.result
    monkeypatch.setattr(
        runlog._Helper, "result", lambda self: results.append(real_result(self)) or results[-1]
    )
    _same_run(_read_all(folder, monkeypatch), one)
    assert len(helpers) == 1 and helpers[0] is not None and helpers[0].proc.returncode == 0
    assert results[0] is not None and results[0][1] == 1  # the helper met the torn line


@pytest.mark.parametrize(
    "helper",
    [
        "import sys; sys.exit(3)",
        "import time; time.sleep(60)",
        "import sys; sys.stdout.write('not a pickle')",
    ],
)
def test_a_helper_that_fails_or_hangs_is_ended_and_its_half_read_here(tmp_path, monkeypatch, helper):
    from ganstudio.core.run import log as runlog

    folder = RunFolder(tmp_path)
    _mixed_log(folder)
    one = _read_all(folder, monkeypatch)
    procs = []
    start = runlog._Helper.start
    monkeypatch.setattr(runlog._Helper, "start", lambda *a: procs.append(start(*a)) or procs[-1])
    monkeypatch.setattr(runlog, "PARALLEL_MIN_BYTES", 1000)
    monkeypatch.setattr(runlog.threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(runlog, "_HELPER", helper)
    monkeypatch.setattr(runlog, "HELPER_TIMEOUT_S", 2.0)
    _same_run(_read_all(folder, monkeypatch), one)
    assert procs and procs[0].proc.poll() is not None  # never left running


def test_writer_ends_a_torn_last_line_before_appending(tiny_config, tmp_path):
    folder = RunFolder(tmp_path)
    folder.metrics_path.write_text('{"event": "stats", "step": 1, "loss_d": 1.0}\n{"event": "sta')
    with RunWriter(folder, tiny_config("digits")) as log:
        log.handle(Stats(step=2, epoch=0.0, wall=0.0, values={"loss_d": 2.0}))
    lines = folder.metrics_path.read_text().splitlines()
    assert lines[-1] == '{"event": "stats", "step": 2, "epoch": 0.0, "wall": 0.0, "loss_d": 2.0}'
    assert _stats_steps(LogReader(folder).read()) == [1, 2]


def test_follower_sees_a_rewritten_log_and_a_vanished_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    folder = RunFolder(run)
    folder.metrics_path.write_text('{"event": "stats", "step": 1}\n{"event": "stats", "step": 2}\n')
    f = Follower(folder)
    state = RunState()
    for ev in f.poll():
        state.apply(ev)
    assert len(state.history) == 2
    folder.metrics_path.write_text('{"event": "stats", "step": 7}\n')  # shorter: rewritten
    events = f.poll()
    assert isinstance(events[0], SourceStatus) and events[0].state == "rewritten"
    for ev in events:
        state.apply(ev)
    assert state.history.steps().tolist() == [7]  # read again from the start, nothing doubled
    os.rename(run, tmp_path / "moved")
    (gone,) = f.poll()
    assert gone.state == "missing" and str(run) in gone.message
    state.apply(gone)
    assert state.history.steps().tolist() == [7] and "disappeared" in state.source_problem
    assert f.poll() == []  # said once
    os.rename(tmp_path / "moved", run)
    back = f.poll()
    assert back and back[0] == SourceStatus("ok")


def test_follower_says_stale_when_the_heartbeat_stops(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path)
    folder.metrics_path.write_text('{"event": "started", "step": 0, "total_steps": 10}\n')
    folder.heartbeat_path.write_text(
        json.dumps({"time": time.time(), "seq": 1, "step": 0, "status": "running", "host": "gpu1", "pid": 7})
    )
    clock = [1000.0]
    monkeypatch.setattr("ganstudio.core.run.follow.time.monotonic", lambda: clock[0])
    f = Follower(folder, stale_s=30)
    state = RunState()
    for ev in f.poll():
        state.apply(ev)
    assert state.status == "running" and state.host == "gpu1"
    clock[0] += 29
    assert not any(isinstance(e, Stale) for e in f.poll())
    clock[0] += 2
    (stale,) = [e for e in f.poll() if isinstance(e, Stale)]
    state.apply(stale)
    assert state.status == "stale"
    folder.heartbeat_path.write_text(
        json.dumps({"time": time.time(), "seq": 2, "step": 5, "status": "paused", "host": "gpu1", "pid": 7})
    )
    beats = [e for e in f.poll() if isinstance(e, Heartbeat)]
    assert beats and beats[0].status == "paused"
    state.apply(beats[0])
    assert state.status == "paused"


def test_an_old_unfinished_run_opens_stale(tmp_path):
    folder = RunFolder(tmp_path)
    folder.metrics_path.write_text('{"event": "started", "step": 0, "total_steps": 10}\n')
    old = time.time() - 3600
    os.utime(folder.metrics_path, (old, old))
    state = RunState()
    for ev in Follower(folder).poll():
        state.apply(ev)
    assert state.status == "stale"


def test_a_restart_from_an_earlier_checkpoint_rewinds_the_story(tmp_path):
    state = RunState()
    for step in (10, 20, 30):
        state.apply(Stats(step=step, epoch=0.0, wall=float(step), values={"loss_d": 1.0}))
    state.apply(Alert(step=25, kind="d_wins", message="x"))
    state.apply(RunStarted(run_dir=None, config={}, device="cpu", step=20, total_steps=50, threads=1))
    assert state.history.steps().tolist() == [10, 20] and state.alerts == [] and state.step == 20


def test_reading_a_long_log_comes_out_in_blocks(tmp_path):
    folder = RunFolder(tmp_path)
    lines = [
        json.dumps(
            {
                "event": "stats",
                "step": i,
                "epoch": i / 100,
                "wall": i / 10,
                "loss_d": i * 0.5,
                "loss_g": None if i % 7 == 0 else 1.0,
            }
        )
        for i in range(1, 5001)
    ]
    lines.insert(2500, json.dumps({"event": "metrics", "step": 2500, "fd": 3.5}))
    folder.metrics_path.write_text("\n".join(lines) + "\n")
    events = LogReader(folder).read()
    blocks = [e for e in events if isinstance(e, StatsBlock)]
    assert len(blocks) == 2 and sum(len(b) for b in blocks) == 5000
    state = RunState()
    for ev in events:
        state.apply(ev)
    g = state.history.series("loss_g")
    assert np.isnan(g[6]) and g[5] == 1.0
    assert state.history.series("fd")[state.history.steps().tolist().index(2500)] == 3.5


def test_a_long_read_hands_the_parses_memory_back_and_a_short_one_does_not(tmp_path, monkeypatch):
    """A million-line log peaks at a dict per line; after a read that long the reader returns the
    freed pages to the system (glibc kept ~600 MB of them), and not after the small reads of a
    followed run."""
    from ganstudio.core.run import log as runlog

    trims = []
    monkeypatch.setattr(runlog, "release_free_memory", lambda: trims.append(1))
    monkeypatch.setattr(runlog, "TRIM_AFTER_LINES", 100)
    folder = RunFolder(tmp_path)

    def line(i: int) -> str:
        return json.dumps({"event": "stats", "step": i, "wall": i / 10, "loss_d": 0.5}) + "\n"

    folder.metrics_path.write_text("".join(line(i) for i in range(1, 151)))
    reader = LogReader(folder)
    assert sum(len(b) for b in of_type(reader.read(), StatsBlock)) == 150
    assert trims == [1]
    with open(folder.metrics_path, "a") as f:
        f.write("".join(line(i) for i in range(151, 171)))
    events = reader.read()
    assert sum(len(b) for b in of_type(events, StatsBlock)) + len(of_type(events, Stats)) == 20
    assert trims == [1]


def test_writer_keeps_lines_it_could_not_write(tiny_config, tmp_path, monkeypatch):
    from ganstudio.core.run import log as runlog

    folder = RunFolder(tmp_path)
    log = RunWriter(folder, tiny_config("digits"))
    real_write = os.write
    full = [True]

    def write(fd, data):
        if full[0] and fd == log._fd:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(runlog.os, "write", write)
    try:
        log.handle(Stats(step=1, epoch=0.0, wall=0.0, values={"loss_d": 1.0}))
    except runlog.LogWriteError as e:
        assert "disk is full" in str(e) and str(folder.metrics_path) in str(e)
    else:
        raise AssertionError("no LogWriteError")
    full[0] = False
    log.handle(Stats(step=2, epoch=0.0, wall=0.0, values={"loss_d": 2.0}))
    log.close()
    assert _stats_steps(LogReader(folder).read()) == [1, 2]  # nothing lost, in order


def test_a_sample_that_cannot_be_written_is_an_alert(tiny_config, tmp_path):
    folder = RunFolder(tmp_path)
    log = RunWriter(folder, tiny_config("digits"))
    folder.samples_dir.rmdir()
    folder.samples_dir.write_text("a file where the folder was")
    (alert,) = log.handle(Samples(step=5, grid=np.zeros((9, 9, 1), np.uint8)))
    assert alert.kind == "disk" and "step 5" in alert.message and "Training goes on" in alert.message
    log.close()
    assert read_metrics(folder.metrics_path) == []  # no line names a file that is not there


def test_concurrent_writer_and_reader(tiny_config, tmp_path):
    """A follower in another thread sees every line a writer appends, in order."""
    folder = RunFolder(tmp_path)
    log = RunWriter(folder, tiny_config("digits"))
    reader = LogReader(folder)
    seen: list[int] = []
    done = threading.Event()

    def follow():
        while not done.is_set() or len(seen) < 300:
            seen.extend(_stats_steps(reader.read()))
            if len(seen) >= 300:
                return
            time.sleep(0.001)

    th = threading.Thread(target=follow, daemon=True)
    th.start()
    for i in range(1, 301):
        log.handle(Stats(step=i, epoch=0.0, wall=0.0, values={"loss_d": float(i)}))
    done.set()
    th.join(30)
    log.close()
    assert seen == list(range(1, 301))


def test_stats_columns_are_exact_whether_the_rows_are_uniform_or_not(tmp_path):
    # Uniform rows go through one table (the fast path); a row that lacks a key, adds one or holds
    # text sends the block column by column. Both give the values as written, NaN where missing.
    full = [
        {"event": "stats", "step": i, "epoch": i / 3, "wall": i / 7, "loss_d": 1 / i, "lr_d": 2e-4}
        for i in range(1, 301)
    ]
    ragged = [dict(r) for r in full]
    del ragged[100]["lr_d"]
    ragged[200]["grad_G.net.0"] = 0.5
    ragged[250]["note"] = "text"
    for name, rows in (("uniform", full), ("ragged", ragged)):
        folder = RunFolder(tmp_path / name)
        folder.path.mkdir()
        folder.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        history = read_run(folder).history
        assert history.steps().tolist() == list(range(1, 301)), name
        assert history.series("loss_d").tolist() == [1 / i for i in range(1, 301)], name
        assert history.epochs().tolist() == [i / 3 for i in range(1, 301)], name
        lr = history.series("lr_d")
        if name == "uniform":
            assert lr.tolist() == [2e-4] * 300 and not history.has("grad_G.net.0")
        else:
            assert math.isnan(lr[100]) and lr[99] == lr[101] == 2e-4
            grad = history.series("grad_G.net.0")
            assert grad[200] == 0.5 and np.isnan(np.delete(grad, 200)).all()
            assert not history.has("note")
