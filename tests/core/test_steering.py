"""Steering a run through its folder: the control file's requests, the heartbeat, and a real
`ganstudio train` process paused, edited, saved and stopped from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Alert
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.steer import ControlFile, Steering, apply_request, parse_request
from tests.core.conftest import last_stats_step, log_records, wait_until

WAIT_S = 60.0


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"not json", ["not JSON"]),
        (b"[1, 2]", ["JSON object"]),
        (b'{"op": "explode"}', ["unknown op 'explode'"]),
        (b'{"op": "save", "path": "/etc/passwd"}', ["'save' takes no 'path'"]),
        (b'{"op": "pause", "code": "import os"}', ["takes no 'code'"]),
        (b'{"op": "step", "n": 0}', ["'n' must be a whole number"]),
        (b'{"op": "step", "n": true}', ["'n' must be a whole number"]),
        (b'{"op": "stop", "save": "yes"}', ["'save' must be true or false"]),
        (b'{"op": "set", "values": {}}', ["non-empty table"]),
        (b'{"op": "set", "values": {"optim.lr_g": [1, 2]}}', ["not a plain value"]),
        (b'{"op": "set", "values": 3}', ["non-empty table"]),
        (b"{" + b'"op": "pause", "x": "' + b"a" * 70000 + b'"}', ["is not a request"]),
    ],
)
def test_a_bad_request_is_named_and_refused(line, words):
    with pytest.raises(ValueError) as info:
        parse_request(line)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_requests_reach_the_control():
    c = Control()
    for line in (
        b'{"op": "pause"}',
        b'{"op": "step", "n": 3}',
        b'{"op": "save", "id": "x"}',
        b'{"op": "set", "values": {"optim.lr_g": 1e-4}}',
        b'{"op": "stop", "save": false}',
    ):
        apply_request(c, parse_request(line))
    values, saves, posted = c.take()
    assert c.paused and c._step_tokens == 3 and c.stopping and not c.save_on_stop
    assert values == [{"optim.lr_g": 1e-4}] and [s.manual for s in saves] == [True] and posted == []


def test_steering_thread_reads_only_new_lines_and_alerts_on_bad_ones(tmp_path):
    folder = RunFolder(tmp_path)
    folder.control_path.write_text('{"op": "stop"}\n')  # from before this process: not for it
    c = Control()
    s = Steering(folder, c, status=lambda: (5, "running", 10.0))
    s.beat()
    beat = json.loads(folder.heartbeat_path.read_text())
    assert beat["step"] == 5 and beat["status"] == "running" and beat["pid"] == os.getpid()
    ControlFile(folder).request("pause")
    with open(folder.control_path, "ab") as f:
        f.write(b'{"op": "nope"}\n{"op": "resu')  # half a line: waits for the rest
    s.poll()
    assert c.paused and not c.stopping
    (alert,) = c.take()[2]
    assert isinstance(alert, Alert) and alert.kind == "control" and "unknown op 'nope'" in alert.message
    with open(folder.control_path, "ab") as f:
        f.write(b'me"}\n')
    s.poll()
    assert not c.paused


def test_a_read_only_folder_is_watch_only(tmp_path):
    if os.geteuid() == 0:
        # root may write anywhere: pretend the folder is mounted read-only
        import ganstudio.core.run.steer as steer

        real = steer.os.access
        steer.os.access = lambda p, mode: False if mode == os.W_OK else real(p, mode)
        try:
            ok, why = ControlFile(RunFolder(tmp_path)).writable()
        finally:
            steer.os.access = real
    else:
        tmp_path.chmod(0o555)
        try:
            ok, why = ControlFile(RunFolder(tmp_path)).writable()
        finally:
            tmp_path.chmod(0o755)
    assert not ok and "read-only" in why and "watched" in why
    missing = RunFolder(tmp_path / "gone" / "run")
    with pytest.raises(RunFolderError, match="cannot send the request"):
        ControlFile(missing).request("pause")


# ----- a real training process ---------------------------------------------------------------------


TRAIN = [
    "--set",
    "train.threads=1",
    "--set",
    "train.device=cpu",
    "--set",
    "train.batch_size=16",
    "--set",
    "model.width=8",
    "--set",
    "model.latent_dim=16",
    "--set",
    "log.every=1",
    "--set",
    "metrics.every=0",
    "--set",
    "log.sample_every=0",
    "--set",
    "log.checkpoint_every=0",
    "--steps",
    "10000000",
    "--quiet",
]


def test_a_headless_run_is_steered_through_its_folder(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganstudio", "train", "--run-dir", str(run_dir), *TRAIN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    folder = RunFolder(run_dir)
    control = ControlFile(folder)
    try:
        wait_until(lambda: last_stats_step(folder) >= 5, "the first steps")
        control.request("pause")
        wait_until(lambda: any(r["event"] == "paused" for r in log_records(folder)), "the pause")
        paused_at = last_stats_step(folder)
        beat = wait_until(
            lambda: (
                json.loads(folder.heartbeat_path.read_text())
                if folder.heartbeat_path.exists()
                and json.loads(folder.heartbeat_path.read_text())["status"] == "paused"
                else None
            ),
            "a paused heartbeat",
        )
        assert beat["pid"] == proc.pid
        time.sleep(1.0)  # a paused run does not advance (a negative check needs some time)
        assert last_stats_step(folder) == paused_at
        control.request("set", values={"optim.lr_g": 0.001})
        control.request("set", values={"model.width": 32})  # fixed by the models: refused
        control.request("step", n=2)
        wait_until(lambda: last_stats_step(folder) == paused_at + 2, "two single steps")
        records = log_records(folder)
        (change,) = [r for r in records if r["event"] == "hparams"]
        assert change["changes"] == {"optim.lr_g": [0.0002, 0.001]}
        refusal = [r for r in records if r["event"] == "alert" and r["kind"] == "config"]
        assert refusal and "model.width cannot change while training runs" in refusal[0]["message"]
        control.request("save")
        saved = wait_until(lambda: [r for r in log_records(folder) if r["event"] == "checkpoint"], "the save")
        assert saved[0]["manual"] is True and saved[0]["path"].startswith("checkpoints/manual-")
        state = checkpoints.load(folder.path / saved[0]["path"])
        assert state["optimizers"]["G"]["param_groups"][0]["lr"] == 0.001
        control.request("resume")
        wait_until(lambda: last_stats_step(folder) > paused_at + 10, "training to go on")
        control.request("stop")
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    records = log_records(folder)
    assert records[-1]["event"] == "finished" and records[-1]["reason"] == "stopped"
    final = checkpoints.load(folder.latest_checkpoint())
    assert final["step"] == records[-1]["step"]
    assert json.loads(folder.heartbeat_path.read_text())["status"] == "stopped"  # before train.steps


def test_resume_auto_continues_in_the_same_folder(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "ganstudio",
        "train",
        "--run-dir",
        str(run_dir),
        "--resume",
        "auto",
        *TRAIN[:-3],
        "--set",
        "log.checkpoint_every=4",
        "--quiet",
    ]
    first = subprocess.run([*args, "--steps", "6"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    folder = RunFolder(run_dir)
    second = subprocess.run([*args, "--steps", "10"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    records = log_records(folder)
    started = [r["step"] for r in records if r["event"] == "started"]
    assert started == [0, 6]
    from ganstudio.core.run.log import read_run

    state = read_run(folder)
    assert state.history.steps().tolist() == list(range(1, 11))
    assert checkpoints.load(folder.latest_checkpoint())["step"] == 10
    # A folder that holds a run is not silently reused without --resume.
    third = subprocess.run(
        [sys.executable, "-m", "ganstudio", "train", "--run-dir", str(run_dir), *TRAIN],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert third.returncode == 2 and "already holds a run" in third.stderr


def test_a_restart_after_a_crash_rewinds_to_the_checkpoint(tmp_path):
    """Lines logged after the last checkpoint (the crash lost them) are replaced, not doubled."""
    run_dir = Path(tmp_path / "run")
    args = [
        sys.executable,
        "-m",
        "ganstudio",
        "train",
        "--run-dir",
        str(run_dir),
        "--resume",
        "auto",
        *TRAIN[:-3],
        "--set",
        "log.checkpoint_every=5",
        "--quiet",
    ]
    proc = subprocess.Popen([*args, "--steps", "1000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = RunFolder(run_dir)
    try:
        wait_until(lambda: last_stats_step(folder) >= 8, "steps past the first checkpoint")
        while True:  # crash it with steps logged after its last checkpoint, not right at one
            proc.send_signal(signal.SIGSTOP)  # frozen: its log and checkpoints hold still
            ckpt_step = checkpoints.load(folder.latest_checkpoint())["step"]
            logged = last_stats_step(folder)
            if logged > ckpt_step:
                break
            proc.send_signal(signal.SIGCONT)
            wait_until(lambda n=logged: last_stats_step(folder) > n, "another step")
    finally:
        proc.kill()
        proc.communicate()
    assert logged > ckpt_step
    again = subprocess.run([*args, "--steps", str(logged + 3)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    from ganstudio.core.run.log import read_run

    steps = read_run(folder).history.steps().tolist()
    assert steps == list(range(1, logged + 4))


@pytest.mark.parametrize("quiet", [False, True])
def test_the_terminal_says_each_request_from_the_app_as_the_run_applies_it(
    tmp_path, capsys, monkeypatch, quiet
):
    """`ganstudio train` printed nothing when the app paused, stepped, edited, saved, resumed or
    stopped it: the progress line just froze. Each applied request is now one line (--quiet: none)."""
    import threading

    from ganstudio.cli import EXIT_OK, main
    from ganstudio.core.run import steer
    from ganstudio.core.train.trainer import Trainer

    folder = RunFolder(tmp_path / "run")
    app = ControlFile(folder)
    applied: list[str] = []
    real_apply = steer.apply_request

    def apply(control, req):
        real_apply(control, req)
        applied.append(req["op"])

    real_step = Trainer.train_step

    def train_step(self):
        if self.step == 3 and not applied:  # the steering thread runs: the app asks now
            app.request("set", values={"optim.lr_d": 0.0002})
            app.request("pause")
            wait_until(lambda: "pause" in applied, "the run to read the requests")
        real_step(self)

    def events(kind: str) -> list[dict]:
        return [r for r in log_records(folder) if r["event"] == kind]

    problems: list[BaseException] = []

    def the_app() -> None:  # what a user does in the app, each once the run has answered the last
        try:
            wait_until(lambda: events("paused"), "the pause")
            app.request("step", n=1)
            wait_until(lambda: len(events("paused")) == 2, "the step")
            app.request("save")
            wait_until(lambda: events("checkpoint"), "the save")
            app.request("resume")
            wait_until(lambda: events("resumed"), "the resume")
            app.request("stop", save=False)
        except BaseException as e:  # said by the test, after the run
            problems.append(e)
            app.request("stop", save=False)

    monkeypatch.setattr(steer, "apply_request", apply)
    monkeypatch.setattr(Trainer, "train_step", train_step)
    helper = threading.Thread(target=the_app)
    helper.start()
    try:
        code = main(
            [
                "train",
                "--run-dir",
                str(folder.path),
                *TRAIN[:-1],
                "--set",
                "optim.lr_d=0.0015",
                *(["--quiet"] if quiet else []),
            ]
        )
    finally:
        helper.join(WAIT_S)
    assert not problems, problems
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    (saved,) = events("checkpoint")
    stopped = events("finished")[-1]["step"]
    lines = [
        "paused from the app at step 4",
        "optim.lr_d 0.0015 → 0.0002 (from the app)",
        "one step from the app, to step 5",
        f"checkpoint saved from the app: {folder.path / saved['path']}",
        "resumed from the app at step 5",
        f"stopped from the app at step {stopped:,}",
    ]
    said = [line for line in err.splitlines() if "from the app" in line]
    assert said == ([] if quiet else lines), err
