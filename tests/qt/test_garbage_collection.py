"""Cycles are collected on the GUI thread only: the training thread once collected a closed
window's Qt objects, and ~QObject, holding one of Qt's signal-slot mutexes, waited there for the GIL
that the GUI thread held while waiting for that mutex (a deadlock, seen as a test that never
ended)."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from tests.qt.conftest import WAIT_MS


def test_a_cycle_made_garbage_is_collected_by_the_gui_thread_not_by_a_busy_worker(window, qtbot):
    assert not gc.isenabled()  # automatic collection is off once the app has a window

    class Holder:
        pass

    holder = Holder()
    holder.qt = QObject()
    holder.me = holder  # only the cycle collector can free it
    where: list[str] = []
    weakref.finalize(holder, lambda: where.append(threading.current_thread().name))
    del holder

    kept: list = []

    def allocate() -> None:  # allocations that would trigger automatic collections many times over
        kept.extend([i] for i in range(200_000))

    worker = threading.Thread(target=allocate, name="busy-worker")
    worker.start()
    worker.join()
    assert where == []  # the worker did not collect it
    # The GUI thread's collector does, at its next look: the allocations are still there, so a
    # collection is due.
    qtbot.waitUntil(lambda: where != [], timeout=WAIT_MS)
    assert where == [threading.main_thread().name]
    kept.clear()
