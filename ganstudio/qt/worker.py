"""Work off the GUI thread, whose results come back as one ordered stream of plain-data events.

`Worker` builds something (a trainer: loading data and models takes seconds) and then iterates a
stream of events from it (training, or polling a run folder that another process writes),
re-emitting them in batches: at most one `events` signal per BATCH_S for a stream of stats, at
once for anything else, always in order. Only plain data crosses to the GUI thread: the core's
event dataclasses (Python scalars, small dicts, CPU numpy arrays).
"""

from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from ganstudio.core.run.events import Failed, Stats

BATCH_S = 0.05
#: What a stream yields to say "nothing more for now": the events held for the batch go out at
#: once. A followed folder's poll ends with it: a stats line held for the next poll's events
#: waited a whole poll interval (every other line, at 20 lines a second), and one before a quiet
#: spell of the writer waited for as long as that lasted.
FLUSH = object()

#: Every QThread this module started; tests check that none is left running.
THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()
#: The workers of started threads. A worker has no parent (it is moved to its thread), so without
#: a reference of ours Python would delete it, and its slot would never run. A reference is
#: dropped on the GUI thread once its thread has finished (the worker is deleted there, by then).
_WORKERS: dict[int, tuple[QThread, Worker]] = {}


class Worker(QObject):
    """`build()` runs first, on the worker thread; what it returns goes out through `built`, and
    exceptions through `failed` (a Failed with step -1; with a traceback unless they are among
    `expected_errors()`: bad input, whose message says it all). Then `stream(built)` (when given)
    is iterated and its events go out through `events`. `done` is always last."""

    built = Signal(object)  # what build() returned; the GUI thread must not use a trainer while it runs
    events = Signal(list)  # events in order, batched
    failed = Signal(object)  # Failed: build() raised
    done = Signal()

    def __init__(
        self,
        build: Callable[[], Any],
        stream: Callable[[Any], Iterable[Any]] | None = None,
        *,
        expected_errors: Callable[[], tuple[type[BaseException], ...]] = tuple,
    ):
        super().__init__()
        self._build = build
        self._stream = stream
        self._expected = expected_errors

    @Slot()
    def work(self) -> None:
        try:
            self._work()
        except Exception as e:  # a bug in the stream's consumer side: still tell the GUI
            self.failed.emit(
                Failed(step=-1, message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            )
        finally:
            # Back to the GUI thread before the end, so the worker is deleted there: deleted on its
            # own thread as that ends, its wrapper waited for the GIL while holding a Qt lock that
            # the GUI thread (holding the GIL) was waiting for, and the app hung.
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.done.emit()

    def _work(self) -> None:
        try:
            result = self._build()
        except Exception as e:
            if isinstance(e, self._expected()):
                self.failed.emit(Failed(step=-1, message=str(e)))
            else:
                self.failed.emit(
                    Failed(step=-1, message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
                )
            return
        self.built.emit(result)
        if self._stream is None:
            return
        pending: list[Any] = []
        last_emit = 0.0
        for ev in self._stream(result):
            if ev is FLUSH:
                if pending:
                    self.events.emit(pending)
                    pending, last_emit = [], time.monotonic()
                continue
            pending.append(ev)
            now = time.monotonic()
            # A stream of stats is batched; anything else (a pause, samples, an alert) goes at once.
            if not isinstance(ev, Stats) or now - last_emit >= BATCH_S:
                self.events.emit(pending)
                pending, last_emit = [], now
        if pending:
            self.events.emit(pending)


def poll_stream(poll: Callable[[], list[Any]], stop: threading.Event, interval_s: float) -> Iterable[Any]:
    """Events from calling `poll()` every `interval_s` until `stop` is set (a followed folder),
    each poll's followed by FLUSH: what it read is drawn now, not held for the next poll's."""
    while not stop.is_set():
        events = poll()
        if events:
            yield from events
            yield FLUSH
        stop.wait(interval_s)


def _forget_finished_workers() -> None:
    for key, (thread, _worker) in list(_WORKERS.items()):
        try:
            done = thread.isFinished()
        except RuntimeError:  # the thread object itself was deleted: long finished
            done = True
        if done:
            del _WORKERS[key]


def start_worker(
    worker: Worker,
    parent: QObject,
    on_finished: Callable[[], None] | None = None,
    name: str = "training-thread",
) -> QThread:
    """Move `worker` to a new QThread and start it; the thread quits when the worker is done.

    `on_finished` is connected to the thread's `finished` before it starts: a worker that fails at
    once may end its thread before this function returns, so connecting afterwards could miss it.
    """
    thread = QThread(parent)
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.work)
    # Direct: the worker thread quits its own loop as soon as `done` is emitted (QThread.quit is
    # thread-safe). Queued, the quit would wait for the GUI thread's event loop, so a
    # `thread.wait()` on the GUI thread could never see the thread end. The worker's queued
    # signals still reach the GUI before `thread.finished`, which is emitted after them.
    worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    _forget_finished_workers()
    _WORKERS[id(worker)] = (thread, worker)
    # Deleted once its thread has finished (queued: the worker lives on the GUI thread by then), so
    # after every queued call of its `done`: deleted on `done` itself, the worker could go before a
    # listener connected later than this line had its call, and PySide drops the calls of a deleted
    # sender's Python receivers (a wait for `done` then timed out now and then).
    thread.finished.connect(worker.deleteLater)
    if on_finished is not None:
        thread.finished.connect(on_finished)
    THREADS.add(thread)
    thread.start()
    return thread
