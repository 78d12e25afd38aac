"""Runs the core trainer on a QThread and re-emits its events as Qt signals.

Only plain data crosses to the GUI thread: the core's event dataclasses (Python scalars, small
dicts, CPU numpy arrays). Stats are batched: at most one `stats_ready` per `STATS_INTERVAL_S`,
whatever the step rate, so a fast run cannot flood the GUI's event queue.
"""

from __future__ import annotations

import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ganstudio.core.control import Control
from ganstudio.core.events import Failed, Finished, Samples, Stats

STATS_INTERVAL_S = 0.05

#: Every QThread this module started; tests check that none is left running.
THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


class TrainingWorker(QObject):
    """Builds a trainer (off the GUI thread: loading data can take seconds) and optionally runs it.

    `build` returns a ready Trainer; exceptions it raises are reported through `failed`, with a
    traceback unless they are among `expected_errors()` (bad input, whose message says it all).
    `sink` (the run folder writer) sees every event, on this thread.
    """

    trainer_ready = Signal(object)  # the Trainer; the GUI thread must not use it while it runs
    stats_ready = Signal(list)  # list[Stats], in step order
    samples_ready = Signal(object)  # Samples
    event = Signal(object)  # RunStarted, HyperparamsChanged, Checkpoint*, Paused, Resumed, Alert
    finished = Signal(object)  # Finished
    failed = Signal(object)  # Failed (build or training error)
    done = Signal()  # always last: the thread may be quit

    def __init__(
        self,
        build: Callable[[], Any],
        control: Control,
        *,
        run: bool = True,
        sink: Callable[[Any], None] | None = None,
        expected_errors: Callable[[], tuple[type[BaseException], ...]] = tuple,
    ):
        super().__init__()
        self._build = build
        self._control = control
        self._run = run
        self._sink = sink
        self._expected = expected_errors

    @Slot()
    def work(self) -> None:
        try:
            self._work()
        except Exception as e:  # a bug in the sink or the signals: still tell the GUI
            self.failed.emit(Failed(step=-1, message=f"{type(e).__name__}: {e}",
                                    traceback=traceback.format_exc()))
        finally:
            self.done.emit()

    def _work(self) -> None:
        try:
            trainer = self._build()
        except Exception as e:
            if isinstance(e, self._expected()):  # bad input: the message is the whole story
                self.failed.emit(Failed(step=-1, message=str(e)))
            else:
                self.failed.emit(Failed(step=-1, message=f"{type(e).__name__}: {e}",
                                        traceback=traceback.format_exc()))
            return
        self.trainer_ready.emit(trainer)
        if not self._run:
            return
        pending: list[Stats] = []
        last_emit = 0.0
        for ev in trainer.run(self._control):
            if self._sink is not None:
                self._sink(ev)
            if isinstance(ev, Stats):
                pending.append(ev)
                now = time.monotonic()
                if now - last_emit >= STATS_INTERVAL_S:
                    self.stats_ready.emit(pending)
                    pending, last_emit = [], now
                continue
            if pending:  # keep order: stats before whatever follows them
                self.stats_ready.emit(pending)
                pending, last_emit = [], time.monotonic()
            if isinstance(ev, Samples):
                self.samples_ready.emit(ev)
            elif isinstance(ev, Finished):
                self.finished.emit(ev)
            elif isinstance(ev, Failed):
                self.failed.emit(ev)
            else:
                self.event.emit(ev)
        if pending:
            self.stats_ready.emit(pending)


def start_worker(
    worker: TrainingWorker, parent: QObject, on_finished: Callable[[], None] | None = None
) -> QThread:
    """Move `worker` to a new QThread and start it; the thread quits when the worker is done.

    `on_finished` is connected to the thread's `finished` before it starts: a worker that fails at
    once may end its thread before this function returns, so connecting afterwards could miss it.
    """
    thread = QThread(parent)
    thread.setObjectName("training-thread")
    worker.moveToThread(thread)
    thread.started.connect(worker.work)
    # Direct: the worker thread quits its own loop as soon as `done` is emitted (QThread.quit is
    # thread-safe). Queued, the quit would wait for the GUI thread's event loop, so a
    # `thread.wait()` on the GUI thread could never see the thread end. The worker's queued
    # signals still reach the GUI before `thread.finished`, which is emitted after them.
    worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(worker.deleteLater)
    if on_finished is not None:
        thread.finished.connect(on_finished)
    THREADS.add(thread)
    thread.start()
    return thread
