"""Steering a run from another process: the run folder's control file, and the heartbeat.

An app watching a run folder appends requests to its control.jsonl, one JSON object per line:

    {"op": "pause"}                      {"op": "resume"}
    {"op": "step", "n": 1}               {"op": "stop", "save": true}
    {"op": "save"}                       {"op": "set", "values": {"optim.lr_g": 0.0001}}

(plus an optional "id" and "time", echoed nowhere). The file is data, never code: a line is one of
these requests or it is ignored with an alert; a "save" takes no path (it saves a manual checkpoint
in the run folder), so nothing in the file can make the training process write elsewhere.

The training process runs a `Steering` thread: every POLL_S it looks at the file's size (no read
while nothing was appended, and never on the training thread), hands new requests to the run's
`Control` (the same object the app's buttons and the CLI's signals use), and every HEARTBEAT_S
rewrites heartbeat.json with the step, the status and the host. The run answers in metrics.jsonl:
the hyperparameter change, pause, resume, checkpoint, or an alert saying what was refused and why.
Nothing here opens a network port: a folder synced both ways (sshfs, NFS) is the channel.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ganstudio.core.disk import describe_os_error
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Alert
from ganstudio.core.run.folder import RunFolder, RunFolderError

POLL_S = 0.2
HEARTBEAT_S = 2.0
OPS = ("pause", "resume", "step", "stop", "save", "set")
MAX_LINE = 64 * 1024  # a request is small; a longer line is not one
MAX_STEPS = 100_000


class ControlFile:
    """The app's side: append requests to a run folder's control file."""

    def __init__(self, folder: RunFolder):
        self.folder = folder

    def writable(self) -> tuple[bool, str]:
        """(True, "") or (False, why the run cannot be steered from here)."""
        path, folder = self.folder.control_path, self.folder.path
        if path.exists():
            ok = os.access(path, os.W_OK)
        else:
            ok = os.access(folder, os.W_OK)
        if ok:
            return True, ""
        return False, (
            f"{folder} is read-only here, so the run can only be watched: steering writes "
            f"requests to {path.name} in it (sync the folder both ways, e.g. with sshfs)"
        )

    def request(self, op: str, **args: Any) -> str:
        """Append one request; returns its id. Raises RunFolderError when it cannot be written."""
        if op not in OPS:
            raise ValueError(f"unknown control op {op!r}")
        rid = uuid.uuid4().hex[:12]
        line = json.dumps({"op": op, **args, "id": rid, "time": time.time()}) + "\n"
        try:
            fd = os.open(self.folder.control_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as e:
            raise RunFolderError(
                f"cannot send the request to the run: {self.folder.control_path}: {describe_os_error(e)}"
            ) from None
        return rid


def parse_request(line: bytes) -> dict[str, Any]:
    """One control line as a validated request; ValueError with a readable reason otherwise."""
    if len(line) > MAX_LINE:
        raise ValueError(f"a line of {len(line):,} bytes is not a request")
    try:
        req = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"not JSON ({e})") from None
    if not isinstance(req, dict):
        raise ValueError(f"a request is a JSON object, not a {type(req).__name__}")
    op = req.get("op")
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; known: {', '.join(OPS)}")
    allowed = {"op", "id", "time"} | {"step": {"n"}, "stop": {"save"}, "set": {"values"}}.get(op, set())
    extra = sorted(set(req) - allowed)
    if extra:
        raise ValueError(f"{op!r} takes no {', '.join(map(repr, extra))}")
    if op == "step":
        n = req.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEPS:
            raise ValueError(f"'n' must be a whole number from 1 to {MAX_STEPS}, not {n!r}")
    if op == "stop" and not isinstance(req.get("save", True), bool):
        raise ValueError("'save' must be true or false")
    if op == "set":
        values = req.get("values")
        if not isinstance(values, dict) or not values:
            raise ValueError("'values' must be a non-empty table of config keys and values")
        for key, value in values.items():
            plain = isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value))
            if not plain:
                raise ValueError(f"{key} = {value!r} is not a plain value")
    return req


def apply_request(control: Control, req: dict[str, Any]) -> None:
    """Hand a validated request to the run's Control."""
    op = req["op"]
    if op == "pause":
        control.pause()
    elif op == "resume":
        control.resume()
    elif op == "step":
        control.step(int(req.get("n", 1)))
    elif op == "stop":
        control.stop(save=bool(req.get("save", True)))
    elif op == "save":
        control.save_checkpoint(None, manual=True)
    elif op == "set":
        control.update_values(dict(req["values"]))


class Steering:
    """The training process's side: reads the control file and writes the heartbeat, on a daemon
    thread. `status()` tells it (step, "running" or "paused", steps/s) for the heartbeat."""

    def __init__(
        self,
        folder: RunFolder,
        control: Control,
        status: Callable[[], tuple[int, str, float]],
        *,
        step_of_alert: Callable[[], int] | None = None,
        read_requests: bool = True,
        extra: Callable[[], dict[str, Any]] | None = None,
        tick: Callable[[], None] | None = None,
    ):
        self.folder = folder
        self.control = control
        self._status = status
        self._step = step_of_alert or (lambda: status()[0])
        self._read = read_requests
        self._extra = extra or dict
        self._tick = tick  # called after each heartbeat: a clock for what no event tells (a stall)
        self._stop = threading.Event()
        self._offset = self._size()  # requests written before this process started are not for it
        self._partial = b""
        self._seq = 0
        self._host = socket.gethostname()
        self._beat_failed = False
        self._thread = threading.Thread(target=self._loop, name="ganstudio-steering", daemon=True)

    def start(self) -> Steering:
        self.beat()
        self._thread.start()
        return self

    def close(self, final_status: str | None = None) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        if final_status is not None:
            self.beat(final_status)

    def _size(self) -> int:
        try:
            return self.folder.control_path.stat().st_size
        except OSError:
            return 0

    def _loop(self) -> None:
        next_beat = time.monotonic() + HEARTBEAT_S
        while not self._stop.wait(POLL_S):
            if self._read:
                self.poll()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_S
                self.beat()
                if self._tick is not None:
                    self._tick()

    def poll(self) -> None:
        """Read and apply what was appended to the control file since the last look."""
        size = self._size()
        if size < self._offset:  # truncated or replaced: start over at its new end
            self._offset, self._partial = size, b""
            return
        if size == self._offset:
            return
        try:
            with open(self.folder.control_path, "rb") as f:
                f.seek(self._offset)
                data = f.read(size - self._offset)
        except OSError:
            return
        self._offset += len(data)
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:][: MAX_LINE + 1]
        for line in data[:end].split(b"\n")[:-1]:
            if not line.strip():
                continue
            try:
                req = parse_request(line)
            except ValueError as e:
                text = line[:80].decode("utf-8", "replace")
                self.control.post(
                    Alert(
                        step=self._step(),
                        kind="control",
                        message=(
                            f"a request in {self.folder.control_path.name} was ignored: {e} (line: {text!r})"
                        ),
                    )
                )
                continue
            apply_request(self.control, req)

    def beat(self, status: str | None = None) -> None:
        step, live, rate = self._status()
        self._seq += 1
        data = {
            "time": time.time(),
            "seq": self._seq,
            "step": step,
            "status": status or live,
            "host": self._host,
            "pid": os.getpid(),
            "steps_per_s": rate if math.isfinite(rate) else None,
            **self._extra(),
        }
        path = self.folder.heartbeat_path
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
            os.replace(tmp, path)
            self._beat_failed = False
        except OSError:
            # A full disk: the log says so elsewhere; a watcher sees the run go stale meanwhile.
            with contextlib.suppress(OSError):
                tmp.unlink()
            self._beat_failed = True
