"""ganstudio.core.runlog: the run folder written from the event stream, and reading it back."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
from PIL import Image

from ganstudio.core import checkpoints
from ganstudio.core.config import load, with_values
from ganstudio.core.events import (
    Alert,
    CheckpointFailed,
    Failed,
    Finished,
    HyperparamsChanged,
    Paused,
    Resumed,
    Samples,
    Stats,
)
from ganstudio.core.history import History, Marker
from ganstudio.core.runlog import (
    CONFIG,
    METRICS,
    RunLog,
    create_run_dir,
    follow_metrics,
    list_sample_grids,
    load_run_config,
    read_metrics,
    run_dir_of_checkpoint,
    scatter_png,
)
from tests.core.conftest import of_type


def _strict_json(line: str):
    """json.loads that refuses NaN/Infinity, as a browser or jq would."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(line, parse_constant=refuse)


def _logged_run(cfg, trainer, run_dir):
    log = RunLog(run_dir, cfg)
    events = []
    for ev in trainer.run():
        log.handle(ev)
        events.append(ev)
    log.close()
    return events


def test_run_folder_of_an_image_run(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config("digits", steps=4, every=1, sample_every=2, checkpoint_every=2)
    run_dir = create_run_dir(cfg, out=tmp_path, now=0)
    assert run_dir.parent == tmp_path and run_dir.name.endswith("-digits-mlp-nonsaturating")
    t = make_trainer(cfg, checkpoint_dir=run_dir / "checkpoints")
    events = _logged_run(cfg, t, run_dir)

    assert load(run_dir / CONFIG) == cfg and load_run_config(run_dir) == cfg
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

    grids = list_sample_grids(run_dir)
    assert [step for step, _ in grids] == [0, 2, 4]
    assert [step for step, _ in list_sample_grids(run_dir, up_to_step=2)] == [0, 2]
    sample_events = of_type(events, Samples)
    for (_, png), ev in zip(grids, sample_events, strict=True):
        with Image.open(png) as img:
            assert img.size == (73, 73) and img.mode == "L"
            assert np.array_equal(np.asarray(img), ev.grid[:, :, 0])
    latest = run_dir / "checkpoints" / "latest.pt"
    assert checkpoints.load(latest)["step"] == 4
    assert run_dir_of_checkpoint(latest) == run_dir.resolve()
    assert run_dir_of_checkpoint(tmp_path / "loose.pt") is None


def test_run_folder_of_a_2d_run(tiny_config, make_trainer, tmp_path):
    cfg = tiny_config("ring8", steps=2, sample_every=2)
    t = make_trainer(cfg)
    run_dir = tmp_path / "run"
    log = RunLog(run_dir, cfg, reference_points=t.data.x[:500].numpy())
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
    with RunLog(tmp_path, cfg) as log:
        values = {"loss_d": math.nan, "loss_g": math.inf, "d_real": 0.25, "grad_d": -math.inf}
        log.handle(Stats(step=3, epoch=0.5, wall=1.0, values=values))
        log.handle(Alert(step=3, kind="nan", message="bad", evidence={"x": math.nan, "y": 2.0}))
        log.handle(Paused(step=3, reason="loss_d became NaN"))
        log.handle(Resumed(step=3))
        log.handle(CheckpointFailed(step=3, path="p", message="disk full"))
        log.handle(Failed(step=4, message="RuntimeError: x", traceback="Traceback ..."))
    records = [_strict_json(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    assert records[0] == {"event": "stats", "step": 3, "epoch": 0.5, "wall": 1.0,
                          "loss_d": None, "loss_g": None, "d_real": 0.25, "grad_d": None}
    assert records[1]["evidence"] == {"x": None, "y": 2.0}
    assert [r["event"] for r in records] == [
        "stats", "alert", "paused", "resumed", "checkpoint_failed", "failed"]
    assert records[2]["reason"] == "loss_d became NaN" and records[5]["traceback"] == "Traceback ..."


def test_hparams_change_rewrites_config(tiny_config, tmp_path):
    cfg = tiny_config("digits")
    with RunLog(tmp_path, cfg) as log:
        log.handle(HyperparamsChanged(step=7, changes={"optim.lr_g": (2e-4, 1e-3), "optim.d_steps": (1, 3)}))
    assert load(tmp_path / CONFIG) == with_values(cfg, {"optim.lr_g": 1e-3, "optim.d_steps": 3})
    (rec,) = read_metrics(tmp_path / METRICS)
    assert rec == {"event": "hparams", "step": 7,
                   "changes": {"optim.lr_g": [2e-4, 1e-3], "optim.d_steps": [1, 3]}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", CONFIG, METRICS, "samples"]


def test_write_history_replays_a_resumed_run(tiny_config, tmp_path):
    h = History()
    h.append(Stats(step=10, epoch=0.1, wall=1.0, values={"loss_d": 1.5, "loss_g": math.nan}))
    h.append(Stats(step=20, epoch=0.2, wall=2.0, values={"loss_d": 1.25, "loss_g": 0.5}))
    h.add_marker(Marker(15, "hparams", "optim.lr_g: 0.0002 → 0.001"))
    with RunLog(tmp_path, tiny_config("digits")) as log:
        log.write_history(h)
        log.handle(Finished(step=20, reason="completed"))
    records = [_strict_json(line) for line in (tmp_path / METRICS).read_text(encoding="utf-8").splitlines()]
    assert records[0] == {"event": "stats", "step": 10, "epoch": 0.1, "wall": 1.0,
                          "loss_d": 1.5, "loss_g": None}
    assert records[1]["loss_g"] == 0.5
    assert records[2] == {"event": "marker", "step": 15, "kind": "hparams",
                          "text": "optim.lr_g: 0.0002 → 0.001"}
    assert records[3]["event"] == "finished"


def test_create_run_dir_is_unique(tiny_config, tmp_path):
    cfg = with_values(tiny_config("ring8"), {"log.name": "mine", "log.out": str(tmp_path / "runs")})
    a = create_run_dir(cfg, now=1e9)
    b = create_run_dir(cfg, now=1e9)
    assert a.parent == b.parent == tmp_path / "runs"
    assert a.name.endswith("-mine") and b.name == a.name + "-1" and a.is_dir() and b.is_dir()


# --- reading a live metrics.jsonl ----------------------------------------------------------------------


def test_read_metrics_ignores_a_partial_last_line(tmp_path):
    path = tmp_path / METRICS
    path.write_text('{"event": "started", "step": 0}\n{"event": "stats", "step": 1, "loss_d": null}\n'
                    '{"event": "stats", "st')
    assert read_metrics(path) == [
        {"event": "started", "step": 0}, {"event": "stats", "step": 1, "loss_d": None}]
    path.write_text("")
    assert read_metrics(path) == []


def test_follow_metrics_yields_what_a_writer_appends(tmp_path):
    path = tmp_path / METRICS
    path.write_text("")
    records = [{"event": "started", "step": 0}] + [
        {"event": "stats", "step": i, "loss_d": i / 4} for i in range(1, 6)
    ] + [{"event": "finished", "step": 5, "reason": "completed"}]
    acks = [threading.Event() for _ in records]
    errors = []

    def writer():
        try:
            with open(path, "a", encoding="utf-8") as f:
                for i, rec in enumerate(records):
                    line = json.dumps(rec) + "\n"
                    # Half a line first: the follower must wait for the rest, not parse the half.
                    f.write(line[: len(line) // 2])
                    f.flush()
                    f.write(line[len(line) // 2 :])
                    f.flush()
                    if i < 3:  # the first records one at a time, each read before the next is written
                        assert acks[i].wait(30)
        except BaseException as e:  # reported by the test thread
            errors.append(e)

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    got = []
    for rec in follow_metrics(path, poll_s=0.005):
        got.append(rec)
        acks[len(got) - 1].set()
    th.join(30)
    assert not errors and not th.is_alive()
    assert got == records


def test_follow_metrics_stops_on_failed_or_request(tmp_path):
    path = tmp_path / METRICS
    path.write_text('{"event": "stats", "step": 1}\n{"event": "failed", "step": 1, "message": "x"}\n'
                    '{"event": "stats", "step": 2}\n')
    assert [r["event"] for r in follow_metrics(path, poll_s=0.001)] == ["stats", "failed"]
    path.write_text('{"event": "stats", "step": 1}\n')
    polls = []

    def stop():
        polls.append(1)
        return len(polls) >= 3

    assert list(follow_metrics(path, poll_s=0.001, stop=stop)) == [{"event": "stats", "step": 1}]
    assert len(polls) == 3
