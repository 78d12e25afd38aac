"""Listing a folder of run folders (ganstudio.core.run.listing and `ganstudio runs`): columns, status from the
log's end and the heartbeat, forks as a tree, damaged and foreign folders with their reason, a run
folder caught while its process writes it, rename, note and the trash (never for a running run)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import orjson
import pytest

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from ganstudio.core.config import Config, with_values
from ganstudio.core.run import listing as runs
from ganstudio.core.run.events import Finished, RunStarted
from ganstudio.core.run.folder import TRASH, RunFolder
from ganstudio.core.run.log import read_run
from ganstudio.core.run.state import FINISHED, STALE_S, STOPPED, RunState
from tests.core.conftest import tiny_cli

TINY = tiny_cli({"log.sample_every": 0})


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """A folder with a finished run (quality metrics on), a fork of it with another loss, and a
    run on ring8; tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("runs") / "runs"
    assert (
        main(
            [
                "train",
                "--steps",
                "12",
                "--out",
                str(out),
                "--set",
                "log.checkpoint_every=6",
                "--set",
                "log.name=first",
                "--set",
                "metrics.every=6",
                "--set",
                "metrics.samples=50",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    first = RunFolder(next(out.iterdir()))
    assert (
        main(
            [
                "train",
                "--fork",
                str(first.checkpoints.path_for(6)),
                "--steps",
                "10",
                "--set",
                "loss.kind=hinge",
                "--set",
                "log.name=child",
                "--set",
                "metrics.every=0",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    assert (
        main(
            [
                "train",
                "--steps",
                "4",
                "--out",
                str(out),
                "--preset",
                "ring8",
                "--set",
                "log.name=toy",
                "--set",
                "metrics.every=0",
                *TINY,
            ]
        )
        == EXIT_OK
    )
    return out


@pytest.fixture
def copy(runs_dir, tmp_path):
    target = tmp_path / "runs"
    shutil.copytree(runs_dir, target)
    return target


def _by_name(found: list[runs.RunInfo]) -> dict[str, runs.RunInfo]:
    return {r.name: r for r in found}


def test_three_runs_are_listed_with_their_columns(runs_dir, capsys):
    found = _by_name(runs.RunScanner().scan([runs_dir]))
    assert set(found) == {"first", "child", "toy"}
    first, child, toy = found["first"], found["child"], found["toy"]
    assert (first.dataset, first.arch, first.loss, first.step, first.total) == (
        "digits",
        "mlp",
        "nonsaturating",
        12,
        12,
    )
    assert first.status == child.status == toy.status == "finished" and not first.problem
    assert first.metric is not None and first.metric[0] == "fd" and first.metric_text().startswith("fd ")
    assert child.metric is None and child.loss == "hinge" and child.steps_text() == "10 / 10"
    assert (toy.dataset, toy.step) == ("ring8", 4)
    assert first.duration > 0 and first.created is not None
    # The fork under its parent.
    tree = [(d, r.name) for d, r in runs.tree(list(found.values()))]
    assert tree == [(0, "first"), (1, "child"), (0, "toy")]

    assert main(["runs", str(runs_dir)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "folder",
        "name",
        "dataset",
        "arch",
        "loss",
        "steps",
        "status",
        "started",
        "duration",
        "metric",
        "note",
    ]
    assert lines[1].split()[:2] == [first.folder, "first"]
    assert "12 / 12" in lines[1] and "finished" in lines[1] and "fd " in lines[1]
    assert lines[2].startswith(f"└ {child.folder} ") and "hinge" in lines[2]
    assert lines[3].split()[:2] == [toy.folder, "toy"] and "ring8" in lines[3]


def test_status_comes_from_the_end_of_the_log_and_the_heartbeat(copy):
    folder = RunFolder(next(p for p in copy.iterdir() if p.name.endswith("first")))
    # Cut the log after its last stats line, as if the process were still training.
    lines = folder.metrics_path.read_text().splitlines(keepends=True)
    last_stats = max(i for i, line in enumerate(lines) if '"event": "stats"' in line)
    folder.metrics_path.write_text("".join(lines[: last_stats + 1]))
    beat = folder.heartbeat_path
    beat.write_text(json.dumps({"time": time.time(), "step": 12, "status": "paused"}))
    now = time.time()
    assert runs.describe(folder.path, now).status == "paused"
    beat.write_text(json.dumps({"time": time.time(), "step": 12, "status": "running"}))
    info = runs.describe(folder.path, now)
    assert info.status == "running" and info.alive
    # Quiet for longer than STALE_S: stale (the process died, or the folder stopped syncing).
    assert runs.describe(folder.path, now + STALE_S + 1).status == "stale"
    # A long run's log: the started line is far back, never read; the tail still gives step and status.
    with open(folder.metrics_path, "a") as f:
        for step in range(14, 20_000, 2):
            rec = {"event": "stats", "step": step, "epoch": 0.0, "wall": step / 100, "loss_d": 1.0}
            f.write(json.dumps(rec) + "\n")
    info = runs.describe(folder.path, time.time())
    assert (info.step, info.status, info.duration) == (19_998, "running", 199.98)


def test_a_run_is_listed_without_parsing_its_whole_log(copy, monkeypatch):
    folder = RunFolder(next(p for p in copy.iterdir() if p.name.endswith("first")))
    with open(folder.metrics_path, "a") as f:
        for step in range(14, 100_000, 2):
            f.write(f'{{"event": "stats", "step": {step}, "epoch": 0.0, "wall": 1.0, "loss_d": 1.0}}\n')
    calls = []
    real = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda b: calls.append(1) or real(b))
    assert runs.describe(folder.path).step == 99_998
    assert len(calls) < runs.TAIL_BYTES // 40  # the last lines only, not 50,000


def test_damaged_and_foreign_folders_are_listed_with_the_reason(copy, capsys):
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    (copy / "notes").mkdir()
    (copy / "notes" / "todo.txt").write_text("x")
    no_config = copy / "no-config"
    shutil.copytree(first, no_config)
    (no_config / "config.toml").unlink()
    foreign = copy / "foreign"
    shutil.copytree(first, foreign)
    (foreign / "metrics.jsonl").write_text('{"loss": 1}\n' * 5)
    torn = copy / "torn"
    shutil.copytree(first, torn)
    text = (torn / "metrics.jsonl").read_text()
    (torn / "metrics.jsonl").write_text(text[:-40] + "\n" + text[-200:])  # a line cut mid-write
    newer = copy / "newer"
    shutil.copytree(first, newer)
    meta = json.loads((newer / "run.json").read_text())
    (newer / "run.json").write_text(json.dumps({**meta, "version": 99}))
    (copy / TRASH).mkdir()
    (copy / TRASH / "old-run").mkdir()

    found = {r.path.name: r for r in runs.RunScanner().scan([copy])}
    assert "old-run" not in found and TRASH not in found
    assert found["notes"].status == runs.NOT_A_RUN and "not a GAN Studio run folder" in found["notes"].problem
    assert found["no-config"].status == runs.DAMAGED and "has no config.toml" in found["no-config"].problem
    assert found["no-config"].step == 12  # what can be read still is
    assert found["foreign"].status == runs.DAMAGED and "not a GAN Studio log" in found["foreign"].problem
    assert found["torn"].status == runs.DAMAGED and "torn line" in found["torn"].problem
    assert found["newer"].status == runs.NEWER and "newer GAN Studio" in found["newer"].problem
    assert main(["runs", str(copy)]) == EXIT_OK
    out = capsys.readouterr().out
    for why in (
        "not a GAN Studio run folder",
        "has no config.toml",
        "not a GAN Studio log",
        "torn line",
        "newer GAN Studio",
    ):
        assert f"! {why}" in out or why in out.split("! ", 1)[1]


def test_runs_of_an_unknown_folder_say_so(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nope")]) == EXIT_BAD_INPUT
    assert "no such folder" in capsys.readouterr().err
    assert main(["runs", str(tmp_path)]) == EXIT_OK
    assert "no runs in" in capsys.readouterr().out


def test_the_scanner_rereads_only_folders_that_changed(copy, monkeypatch):
    scanner = runs.RunScanner()
    scanner.scan([copy])
    described = []
    real = runs.describe
    monkeypatch.setattr(
        runs, "describe", lambda path, now=None: described.append(path.name) or real(path, now)
    )
    scanner.scan([copy])
    assert described == []
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    runs.set_note(first, "the baseline")
    assert _by_name(scanner.scan([copy]))["first"].note == "the baseline"
    assert described == [first.name]
    # A new run appears; a removed one goes.
    shutil.copytree(first, copy / "copy-of-first")
    shutil.rmtree(next(p for p in copy.iterdir() if p.name.endswith("toy")))
    assert sorted(r.path.name for r in scanner.scan([copy])) == sorted(p.name for p in copy.iterdir())


def test_rename_and_note_live_in_run_json(copy):
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    runs.rename(first, "  baseline lr 2e-4 ")
    runs.set_note(first, "before the change")
    info = runs.describe(first)
    assert (info.name, info.note) == ("baseline lr 2e-4", "before the change")
    assert first.exists()  # the folder keeps its name: its fork still finds its parent
    assert [(d, r.name) for d, r in runs.tree(runs.RunScanner().scan([copy]))][:2] == [
        (0, "baseline lr 2e-4"),
        (1, "child"),
    ]
    with pytest.raises(runs.RunsError, match="cannot be empty"):
        runs.rename(first, " ")


def test_trash_moves_a_finished_run_and_refuses_a_running_one(copy):
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    toy = next(p for p in copy.iterdir() if p.name.endswith("toy"))
    # Training in another process: its log has no end and its heartbeat is fresh.
    folder = RunFolder(first)
    lines = [
        line
        for line in folder.metrics_path.read_text().splitlines(keepends=True)
        if '"event": "finished"' not in line
    ]
    folder.metrics_path.write_text("".join(lines))
    folder.heartbeat_path.write_text(json.dumps({"time": time.time(), "step": 12, "status": "running"}))
    with pytest.raises(runs.RunsError, match="running in another process.*stop it first"):
        runs.trash(first)
    assert first.exists()
    # Once it has gone quiet (stale), it may go.
    old = time.time() - STALE_S - 5
    for p in (folder.metrics_path, folder.heartbeat_path):
        os.utime(p, (old, old))
    assert runs.describe(first).status == "stale"
    where = runs.trash(first)
    assert where == copy / TRASH / first.name and where.is_dir() and not first.exists()
    # Nothing is deleted: a second run of the same name goes beside it.
    shutil.copytree(toy, copy / first.name)
    assert runs.trash(copy / first.name) == copy / TRASH / f"{first.name}-1"
    assert sorted(r.name for r in runs.RunScanner().scan([copy])) == ["child", "toy"]


# ----- a run folder caught while its process writes it (issue 17, item 2) ----------------------------

KNOWN = {
    "new",
    "running",
    "paused",
    "finished",
    "stopped",
    "failed",
    "stale",
    runs.STARTING,
    runs.DAMAGED,
    runs.NOT_A_RUN,
    runs.NEWER,
}


def test_a_run_folder_whose_config_is_not_written_yet_is_starting(tmp_path, capsys):
    """What every new run looks like for a moment (it builds its data and models before it writes
    config.toml): listed as starting, not an exception, and `ganstudio runs` exits 0."""
    out = tmp_path / "runs"
    folder = RunFolder.create(Config(), out)
    info = runs.describe(folder.path)
    assert (info.status, info.problem, info.name) == (runs.STARTING, "", "digits-mlp-nonsaturating")
    assert info.alive and not info.openable and "stop it first" in info.why_not_trash()
    assert main(["runs", str(out)]) == EXIT_OK
    captured = capsys.readouterr()
    assert "starting" in captured.out.splitlines()[1] and "Traceback" not in captured.err
    # Still so long after: the process died while starting; the row says so (a scan, cached or not).
    later = time.time() + STALE_S + 1
    scanner = runs.RunScanner()
    assert scanner.scan([out])[0].status == runs.STARTING
    for info in (runs.describe(folder.path, later), scanner.scan([out], now=later)[0]):
        assert info.status == "stale" and info.problem == runs.NEVER_STARTED and not info.why_not_trash()
    # Its config written: an ordinary new run.
    folder.save_config(Config())
    info = scanner.scan([out])[0]
    assert (info.status, info.problem, info.dataset) == ("new", "", "digits")
    assert info.total == Config().train.steps


def _write(path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.mark.parametrize(
    "state",
    [
        "empty run.json",
        "run.json cut short",
        "run.json a list",
        "run.json with wrong types",
        "config.toml empty",
        "config.toml cut short",
        "metrics.jsonl a partial first line",
        "metrics.jsonl cut mid-line",
        "metrics.jsonl malformed events",
        "heartbeat.json empty",
        "heartbeat.json a list",
        "heartbeat.json with wrong types",
        "only a heartbeat",
    ],
)
def test_any_half_written_file_is_a_row_never_an_exception(copy, capsys, state):
    """Another process writes these files while the list is read: whatever the read catches, the
    folder is a row with a status (and what is wrong, where something is), and `runs` exits 0."""
    folder = RunFolder(next(p for p in copy.iterdir() if p.name.endswith("first")))
    meta, config = folder.meta_path.read_bytes(), folder.config_path.read_bytes()
    log = folder.metrics_path.read_bytes()
    change = {
        "empty run.json": lambda: _write(folder.meta_path, b""),
        "run.json cut short": lambda: _write(folder.meta_path, meta[: len(meta) // 2]),
        "run.json a list": lambda: _write(folder.meta_path, b"[1, 2]"),
        "run.json with wrong types": lambda: _write(
            folder.meta_path,
            json.dumps(
                {
                    "format": "ganstudio-run",
                    "version": 1,
                    "name": 3,
                    "note": ["x"],
                    "created": "today",
                    "parent": "nope",
                }
            ).encode(),
        ),
        "config.toml empty": lambda: _write(folder.config_path, b""),
        "config.toml cut short": lambda: _write(folder.config_path, config[: len(config) // 2]),
        "metrics.jsonl a partial first line": lambda: _write(folder.metrics_path, log[:30]),
        "metrics.jsonl cut mid-line": lambda: _write(folder.metrics_path, log[: len(log) // 2]),
        "metrics.jsonl malformed events": lambda: _write(
            folder.metrics_path,
            log
            + (
                b'{"event": "started", "step": "x"}\n{"event": "finished"}\n'
                b'{"event": "metrics", "step": 3, "fd": true}\n'
            ),
        ),
        "heartbeat.json empty": lambda: _write(folder.heartbeat_path, b""),
        "heartbeat.json a list": lambda: _write(folder.heartbeat_path, b"[]"),
        "heartbeat.json with wrong types": lambda: _write(
            folder.heartbeat_path, json.dumps({"status": 7, "rank_steps": "x", "time": "now"}).encode()
        ),
        "only a heartbeat": lambda: [
            p.unlink() for p in (folder.meta_path, folder.config_path, folder.metrics_path)
        ],
    }[state]
    change()
    info = runs.describe(folder.path)
    assert info.status in KNOWN and info.path == folder.path
    assert info.name and isinstance(info.note, str)
    assert main(["runs", str(copy)]) == EXIT_OK
    assert "Traceback" not in capsys.readouterr().err


def test_run_json_replaced_between_two_reads_is_a_row(copy, monkeypatch):
    """run.json read well once and cut short the next time (another tool writing it in place)."""
    from ganstudio.core.run.folder import RunFolderError

    folder = RunFolder(next(p for p in copy.iterdir() if p.name.endswith("first")))
    real, reads = RunFolder.meta, []

    def meta(self):
        reads.append(self.path)
        if len(reads) > 1:
            raise RunFolderError(f"{self.meta_path} cannot be read: Expecting value")
        return real(self)

    monkeypatch.setattr(RunFolder, "meta", meta)
    info = runs.describe(folder.path)
    assert info.status == runs.DAMAGED and "cannot be read" in info.problem and len(reads) == 2


def test_a_parent_path_that_is_a_symlink_loop_is_a_root(copy, capsys):
    child = next(p for p in copy.iterdir() if p.name.endswith("child"))
    (copy / ".a").symlink_to(copy / ".b")
    (copy / ".b").symlink_to(copy / ".a")
    meta = json.loads((child / "run.json").read_text())
    meta["parent"]["run"] = str(copy / ".a")
    (child / "run.json").write_text(json.dumps(meta))
    assert [(d, r.name) for d, r in runs.tree(runs.RunScanner().scan([copy]))] == [
        (0, "first"),
        (0, "child"),
        (0, "toy"),
    ]
    assert main(["runs", str(copy)]) == EXIT_OK


def test_a_file_cut_at_any_length_still_lists(copy):
    """Every file of a run, cut at every few bytes (what a reader may see mid-write)."""
    folder = RunFolder(next(p for p in copy.iterdir() if p.name.endswith("first")))
    for path in (folder.meta_path, folder.config_path, folder.metrics_path, folder.heartbeat_path):
        whole = path.read_bytes() if path.exists() else b'{"time": 1, "step": 12, "status": "finished"}\n'
        for n in range(0, len(whole), max(1, len(whole) // 40)):
            path.write_bytes(whole[:n])
            assert runs.describe(folder.path).status in KNOWN, (path.name, n)
        path.write_bytes(whole)


def test_describe_keeps_its_promise_for_a_problem_nobody_foresaw(copy, monkeypatch, capsys):
    """A bug in a reader is the row's problem (named as a bug), not an exception out of the scan."""

    def broken(folder, info):
        raise AttributeError("'NoneType' object has no attribute 'data'")

    monkeypatch.setattr(runs, "_read_tail", broken)
    found = runs.RunScanner().scan([copy])
    assert len(found) == 3 and all(r.status == runs.DAMAGED for r in found)
    assert "AttributeError" in found[0].problem and "a bug in GAN Studio" in found[0].problem
    assert main(["runs", str(copy)]) == EXIT_OK
    assert "! cannot be listed: AttributeError" in capsys.readouterr().out


@pytest.mark.parametrize("lands", ["run.json", "config.toml"])
def test_a_file_landing_between_the_looks_is_never_not_a_run(tmp_path, monkeypatch, lands):
    """describe() looks twice at a folder with no run file (is it empty? is it a run?): a starting
    run's file written between the two looks makes it a run being made, never "not a run"."""
    cfg = with_values(Config(), {"train.steps": 100})
    path = tmp_path / "20261207-120000-made-now"
    path.mkdir()
    looked = runs._nothing_yet

    def a_file_lands_first(where):
        folder = RunFolder(where)
        if lands == "run.json":
            folder.write_meta({"created": 1_700_000_000.0, "name": "made-now"})
        else:
            folder.save_config(cfg)
        return looked(where)

    monkeypatch.setattr(runs, "_nothing_yet", a_file_lands_first)
    info = runs.describe(path)
    assert info.status not in (runs.NOT_A_RUN, runs.DAMAGED, runs.NEWER), (info.status, info.problem)


def test_a_scan_while_runs_are_being_made_and_written_never_fails(tmp_path):
    """The race itself: one thread makes run folders the way a starting run does (run.json, then
    the config, then log lines, a heartbeat replaced) while another lists them again and again."""
    out = tmp_path / "runs"
    out.mkdir()
    cfg = with_values(Config(), {"train.steps": 100})
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(40):
                folder = RunFolder.create(cfg, out, now=1_700_000_000 + i)
                folder.save_config(cfg)
                with open(folder.metrics_path, "a") as f:
                    for step in range(0, 10, 2):
                        f.write(json.dumps({"event": "stats", "step": step, "wall": 0.1, "loss_d": 1.0}))
                        f.flush()
                        f.write("\n")
                    f.write(json.dumps({"event": "finished", "step": 8, "reason": "stopped"}) + "\n")
                folder.heartbeat_path.write_text(json.dumps({"time": time.time(), "status": "stopped"}))
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    scanner, seen = runs.RunScanner(), set()
    while not done.is_set():
        seen |= {r.status for r in scanner.scan([out])}
    thread.join()
    assert not errors
    assert seen <= KNOWN - {runs.NOT_A_RUN, runs.NEWER}
    final = scanner.scan([out])
    assert len(final) == 40 and {r.status for r in final} == {STOPPED}


# ----- stopped is not finished (item 8) ----------------------------------------------------------


def test_a_run_that_ended_before_its_steps_is_stopped_everywhere(tmp_path, capsys):
    """Stopped at step 4 of 12: the reducer (a follower, the window), the listing and the heartbeat
    all say stopped; only a run that reached train.steps is finished."""
    from ganstudio.core.run.driver import RunDriver
    from ganstudio.core.run.events import Stats
    from tests.core.conftest import make_tiny_config

    for reason, status in (("completed", FINISHED), ("stopped", STOPPED)):
        state = RunState()
        state.apply(RunStarted(run_dir=None, config={}, device="cpu", step=0, total_steps=9, threads=1))
        state.apply(Finished(step=5, reason=reason))
        assert state.status == status and not state.alive

    out = tmp_path / "runs"
    driver = RunDriver(make_tiny_config(steps=12, every=2), out=out)
    driver.prepare()
    for ev in driver.events():
        if isinstance(ev, Stats) and ev.step == 4:
            driver.control.stop()
    driver.close()
    folder = driver.folder
    assert read_run(folder).status == STOPPED
    assert json.loads(folder.heartbeat_path.read_text())["status"] == STOPPED
    info = runs.describe(folder.path)
    assert (info.status, info.steps_text()) == (STOPPED, "4 / 12")
    assert main(["runs", str(out)]) == EXIT_OK
    assert "stopped" in capsys.readouterr().out.splitlines()[1]
    # A killed writer (no finished line): the heartbeat's last word is the status.
    lines = folder.metrics_path.read_text().splitlines(keepends=True)
    folder.metrics_path.write_text("".join(x for x in lines if '"finished"' not in x))
    assert runs.describe(folder.path).status == STOPPED


# ----- telling runs apart (item 10) --------------------------------------------------------------


def test_runs_of_one_name_show_their_folders_a_job_its_processes_and_runs_its_note(copy, capsys):
    first = next(p for p in copy.iterdir() if p.name.endswith("first"))
    twin = copy / "20260101-000000-first-1"
    shutil.copytree(first, twin)
    runs.set_note(twin, "lr 1e-3,\n  the second try")
    job = RunFolder(copy / "20260101-000001-job")
    shutil.copytree(first, job.path)
    job.heartbeat_path.unlink()
    with open(job.metrics_path, "a") as f:  # continued as a 2-process torchrun job
        started = RunStarted(None, {}, "cpu", step=12, total_steps=20, threads=1, world_size=2)
        f.write(json.dumps(started.record()) + "\n")
    found = {r.path.name: r for r in runs.RunScanner().scan([copy])}
    assert found[first.name].name == found[twin.name].name == "first"
    assert found[job.name].processes == 2 and found[job.name].status_text() == "running (2 processes)"
    assert found[twin.name].note == "lr 1e-3, the second try"  # one line in a table
    # A long job: its started line is out of the log's tail; the heartbeat has a step per rank.
    with open(job.metrics_path, "a") as f:
        for step in range(14, 20_000, 2):
            f.write(json.dumps({"event": "stats", "step": step, "wall": 1.0, "loss_d": 1.0}) + "\n")
    job.heartbeat_path.write_text(
        json.dumps(
            {"time": time.time(), "step": 19_998, "status": "running", "rank_steps": [19_998, 19_998, 19_998]}
        )
    )
    assert runs.describe(job.path).processes == 3
    assert main(["runs", str(copy)]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    rows = {
        line.split()[0]: line for line in out[1:] if not line.startswith("    ") and not line.startswith("└")
    }
    assert set(rows) >= {first.name, twin.name, job.name}
    assert rows[twin.name].rstrip().endswith("lr 1e-3, the second try")
    assert "running (3 processes)" in rows[job.name]


def test_one_duration_format_for_the_table_the_cli_and_the_status_bar():
    from ganstudio.core.run.listing import fmt_duration

    assert [fmt_duration(s) for s in (5, 65, 3725)] == ["0:05", "1:05", "1:02:05"]
    # Not known: blank in the runs table, "--:--" as the CLI's ETA, "—" in the status bar.
    for unknown in (float("nan"), float("inf"), -1.0):
        assert fmt_duration(unknown) == "" and fmt_duration(unknown, "--:--", zero=True) == "--:--"
    assert fmt_duration(0) == "" and fmt_duration(0, "—") == "—"  # a run with no duration yet
    assert fmt_duration(0, "--:--", zero=True) == "0:00"  # an ETA at the end


def test_runs_of_your_own_loop_or_model_say_so_instead_of_the_default_keys(tmp_path):
    import ganstudio

    with ganstudio.init(out=str(tmp_path), name="mine", config={"optim.lr_g": 1e-3}) as run:
        run.log(1, loss_d=1.0, loss_g=1.0)
        run.tick(1)
    loop = runs.describe(run.folder.path)
    assert (loop.arch, loop.loss) == (runs.OWN_LOOP, "")  # not the config's default "mlp / nonsaturating"
    cfg = with_values(Config(), {"model.arch": "/somewhere/code/my_gan.py:build", "log.out": str(tmp_path)})
    folder = RunFolder.create(cfg)
    folder.save_config(cfg)
    own_model = runs.describe(folder.path)
    assert (own_model.arch, own_model.loss) == ("my_gan", "nonsaturating")  # the file's name, not its path
