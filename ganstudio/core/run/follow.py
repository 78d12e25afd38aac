"""Following a run folder that may be live, remote or synced: `Follower.poll()` says what happened
since the last poll, as events (new lines of the log, the heartbeat, a run gone quiet, a log
rewritten, a folder that vanished). The app's follow of a run and its Runs dock's overlays use it.
"""

from __future__ import annotations

import contextlib
import json
import time

from ganstudio.core.disk import describe_os_error
from ganstudio.core.run.events import Alert, Event, Heartbeat, SourceStatus, Stale
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import LogReader
from ganstudio.core.run.state import NEW, STALE, STALE_S, run_status, status_of


class Follower:
    """Follows a (possibly live, possibly remote and synced) run folder: `poll()` returns what
    happened since the last poll, as events. Never raises for what the folder does: a torn or
    rewritten log, a missing heartbeat, a folder that disappears are reported as events."""

    def __init__(self, folder: RunFolder, stale_s: float = STALE_S):
        self.folder = folder
        self.reader = LogReader(folder)
        self.stale_s = stale_s
        self._heartbeat_sig: tuple | None = None
        self._log_size = -1
        self._pulse = time.monotonic()
        self._logged = NEW  # the status the log's lifecycle lines say (status_of the last one)
        self._stale = False
        self._missing = False
        self._damaged = 0
        self._first = True

    def poll(self) -> list[Event]:
        out: list[Event] = []
        if not self.folder.path.is_dir():
            if not self._missing:
                self._missing = True
                out.append(
                    SourceStatus(
                        "missing",
                        (
                            f"the run folder {self.folder.path} has disappeared (deleted, moved or "
                            "unmounted); what was read stays shown, and it is followed again if it comes back"
                        ),
                    )
                )
            return out
        try:
            events = self.reader.read()
        except FileNotFoundError:
            events = []
            if not self._missing:
                self._missing = True
                out.append(SourceStatus("missing", f"{self.folder.metrics_path} is missing; waiting for it"))
        except OSError as e:
            return [SourceStatus("error", f"cannot read {self.folder.metrics_path}: {describe_os_error(e)}")]
        else:
            if self._missing:
                self._missing = False
                out.append(SourceStatus("ok"))
        out.extend(events)
        if self.reader.damaged > self._damaged:
            self._damaged = self.reader.damaged
            out.append(
                SourceStatus(
                    "damaged",
                    (
                        f"{self._damaged} line{'s' if self._damaged != 1 else ''} of "
                        f"{self.folder.metrics_path} could not be read (torn or foreign) and were skipped"
                    ),
                )
            )
        for ev in events:
            self._logged = status_of(ev) or self._logged
        out.extend(self._pulse_events())
        self._first = False
        return out

    def _pulse_events(self) -> list[Event]:
        out: list[Event] = []
        now = time.monotonic()
        beat = self._read_heartbeat()
        size = self.reader._offset
        newest = 0.0
        if beat is not None:
            sig, ev, mtime = beat
            newest = mtime
            if sig != self._heartbeat_sig:
                self._heartbeat_sig = sig
                self._pulse = now
                out.append(ev)
        if size != self._log_size:
            self._log_size = size
            self._pulse = now
            with contextlib.suppress(OSError):
                newest = max(newest, self.folder.metrics_path.stat().st_mtime)
        if self._first and newest:
            # Opened now: judge by the files' age, since there is no pulse of ours to go by yet.
            self._pulse = now - max(0.0, time.time() - newest)
        quiet = now - self._pulse
        stale = run_status(self._logged, quiet, stale_s=self.stale_s) == STALE
        if stale and not self._stale:
            out.append(Stale(seconds=quiet))
        self._stale = stale
        return out

    def _read_heartbeat(self) -> tuple[tuple, Heartbeat, float] | None:
        path = self.folder.heartbeat_path
        try:
            st = path.stat()
            data = json.loads(path.read_text(encoding="utf-8"))
            ev = Heartbeat(
                time=float(data["time"]),
                step=int(data.get("step", 0)),
                status=str(data.get("status", "running")),
                host=str(data.get("host", "")),
                pid=int(data.get("pid", 0)),
                steps_per_s=float(data.get("steps_per_s") or float("nan")),
                stalled=Alert.from_record(data["stalled"]) if isinstance(data.get("stalled"), dict) else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (st.st_mtime_ns, st.st_size, data.get("seq")), ev, st.st_mtime
