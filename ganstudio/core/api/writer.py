"""A loop's run folder written without ever stopping the loop.

`ganstudio train` halts a run whose log cannot be written (it owns the run and can resume it); a
loop of the user's own goes on, whatever happens to the folder. So here, around the one log writer
(core/run/log.py's RunWriter): a full disk is a warning, the lines not written are kept (the stats
lines while it lasts are counted and dropped, so memory does not grow), and the log goes on, with
an alert saying how many were lost, once the disk has room again; a deleted or moved run folder is
a warning and nothing more is written (the training goes on, unwatched). Warnings go to Python's
`warnings` (the loop's stderr), once per episode. The writing itself is done on a thread of its
own, so neither a slow disk nor a full one ever holds the loop up.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from ganstudio.core.config import Config
from ganstudio.core.run.events import Alert, Event, Stats
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.log import LogWriteError, RunWriter

RETRY_S = 5.0  # while the disk is full, how often a write is tried again
WRITE_S = 0.05  # how often the writer thread writes what the loop queued


class GanStudioWarning(RuntimeWarning):
    """Something GAN Studio could not do for the loop (write its folder, read a value); the loop
    goes on."""


_PACKAGE = str(Path(__file__).resolve().parents[2])  # ganstudio/


def warn(message: str) -> None:
    """A GanStudioWarning, pointing at the loop's line that called into GAN Studio."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, GanStudioWarning, stacklevel=level)


class LoopWriter:
    """`write(events)` queues them; a thread of its own writes them every WRITE_S, so the loop never
    waits for a disk (a network mount may take milliseconds a line). `drain()` writes what is
    queued now, on the calling thread; `close()` drains and ends the thread."""

    def __init__(self, folder: RunFolder, cfg: Config):
        self.folder = folder
        self.writer: RunWriter | None = RunWriter(folder, cfg)  # raises RunFolderError
        self._failing = False
        self._retry_at = 0.0
        self._dropped = 0
        self._first_dropped = 0
        self._queue: deque[Event] = deque()
        self._io = threading.Lock()  # one writer at a time, in the queue's order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ganstudio-loop-writer", daemon=True)
        self._thread.start()

    @property
    def gone(self) -> bool:
        """The folder was deleted or moved: nothing is written any more."""
        return self.writer is None

    def write(self, events: Iterable[Event]) -> None:
        self._queue.extend(events)

    def _run(self) -> None:
        while not self._stop.wait(WRITE_S):
            self.drain()

    def drain(self) -> None:
        with self._io:
            queue = self._queue
            if not queue or self.writer is None or not self._still_there():
                queue.clear()
                return
            now = time.monotonic()
            while queue:
                ev = queue.popleft()
                if self._failing and isinstance(ev, Stats) and now < self._retry_at:
                    self._dropped += 1
                    self._first_dropped = self._first_dropped or ev.step
                    continue
                self._handle(ev, now)

    def _handle(self, ev: Event, now: float) -> None:
        try:
            extra = self.writer.handle(ev)
            for alert in extra:  # a sample that did not fit: its alert goes in the log
                self.writer.handle(alert)
                warn(alert.message)
        except LogWriteError as e:
            if not self._failing:
                warn(f"{e}. The loop goes on; its stats are not logged until there is room")
            self._failing = True
            self._retry_at = now + RETRY_S
            return
        except Exception as e:  # whatever else: the loop goes on
            warn(f"GAN Studio could not write {type(ev).__name__} to {self.folder.path}: {e}")
            return
        if self._failing:
            self._failing = False
            self._recovered(getattr(ev, "step", 0))

    def _recovered(self, step: int) -> None:
        if not self._dropped:
            return
        message = (
            f"{self._dropped} stats lines from step {self._first_dropped} on were not written to "
            f"{self.folder.metrics_path}: the disk was full. The log goes on from step {step}."
        )
        self._dropped = self._first_dropped = 0
        warn(message)
        with contextlib.suppress(Exception):
            self.writer.handle(Alert(step=step, kind="disk", message=message))

    def _still_there(self) -> bool:
        if self.folder.metrics_path.exists():
            return True
        warn(
            f"the run folder {self.folder.path} was deleted or moved: GAN Studio writes nothing more "
            "for this run; the loop goes on"
        )
        with contextlib.suppress(Exception):
            self.writer.close()
        self.writer = None
        return False

    def set_config(self, cfg: Config) -> None:
        """The run's config as it starts (config.toml; the log writer's, for later edits)."""
        with self._io:
            if self.writer is None or self.writer.cfg == cfg:
                return
            self.writer.cfg = cfg
            try:
                self.folder.save_config(cfg)
            except RunFolderError as e:
                warn(str(e))

    def close(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        self.drain()
        with self._io:
            if self.writer is not None:
                with contextlib.suppress(Exception):
                    self.writer.close()
                self.writer = None
