"""Fixtures for the Qt tests: private settings, a main window on a tiny config, and two guards:
one fails any test which leaves a training thread running, the other any test during which Qt
warned about an object used from the wrong thread (a widget touched by a worker thread).

Every window trains digits with tiny models on one CPU thread: a step takes milliseconds, so a
test waits for a signal or a condition (typically well under a second) rather than sleeping.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, qInstallMessageHandler
from PySide6.QtWidgets import QMessageBox

from ganstudio.core.config import Config, validate, with_values
from ganstudio.qt import worker as worker_module

# Generous: a noisy 2-core CI machine may stall for seconds; a typical wait is well under one.
WAIT_MS = 30_000

# A run that lasts as long as a test needs it: tests that pause, edit or close stop it themselves.
LONG_RUN = 1_000_000

TINY: dict[str, Any] = {
    "data.dataset": "digits",
    "model.arch": "mlp",
    "model.width": 8,
    "model.latent_dim": 16,
    "train.batch_size": 16,
    "train.steps": 20,
    "train.threads": 1,
    "train.device": "cpu",
    "log.every": 2,
    "log.sample_every": 5,
    "log.checkpoint_every": 10,
    "metrics.every": 0,  # quality metrics take seconds at the end of a run; tests/core covers them
}


# What Qt says when an object is used from a thread it does not live in: a widget touched from a
# worker thread (a lambda connected to a worker's signal runs there), a timer started or stopped
# there, a child created for a parent on the GUI thread. Each is a bug that may crash a user's app.
THREAD_WARNING = re.compile(
    r"Cannot create children for a parent that is in a different thread"
    r"|Timers cannot be (?:started|stopped) from another thread"
    r"|QBasicTimer"
    r"|QObject::(?:killTimer|startTimer|setParent|moveToThread)"
    r"|Cannot send events to objects owned by a different thread"
    r"|Socket notifiers cannot be enabled or disabled from another thread"
    r"|not safe to use pixmaps outside the GUI thread"
    r"|is not the object's thread"
    r"|in a different thread"
)


def _thread_warnings(messages) -> list[str]:
    return [m for m in messages if THREAD_WARNING.search(m)]


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item, call):
    """Fail a test during whose set-up or body Qt warned about the wrong thread. pytest-qt
    captures Qt's messages from set-up to the end of the body; this runs inside its report hook
    (trylast), while the messages are still there."""
    report = yield
    capture = getattr(item, "qt_log_capture", None)
    if call.when == "call" and capture is not None and report.outcome != "failed":
        bad = _thread_warnings(rec.message for rec in capture.records)
        if bad:
            report.outcome = "failed"
            report.longrepr = "Qt warned about an object used from the wrong thread:\n  " + "\n  ".join(bad)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item):
    """The same guard over tear-down (windows closed, threads stopped), which pytest-qt does not
    capture: a handler of our own, passing every message on as before."""
    seen: list[str] = []
    previous = None

    def handler(mode, context, message):
        if THREAD_WARNING.search(message):
            seen.append(message)
        if previous is not None:
            previous(mode, context, message)
        else:
            print(message, file=sys.stderr)

    previous = qInstallMessageHandler(handler)
    try:
        result = yield
    finally:
        qInstallMessageHandler(previous)
    if seen:
        pytest.fail(
            "Qt warned about an object used from the wrong thread during tear-down:\n  " + "\n  ".join(seen),
            pytrace=False,
        )
    return result


def collect(model, cls: type, into: list) -> list:
    """Append every event of type `cls` that reaches the run model (`session.model`) to `into`."""
    model.changed.connect(lambda changes: into.extend(changes.of_type(cls)))
    return into


def has_events(cls: type):
    """A waitSignal check for the model's `changed`: the batch holds an event of type `cls`."""
    return lambda changes: bool(changes.of_type(cls))


def tiny_config(out: Path, **values: Any) -> Config:
    """A tiny, valid config writing run folders under `out`, with keys overridden as
    section__key=value (train__steps=100 sets train.steps)."""
    merged = {**TINY, "log.out": str(out)}
    for name, value in values.items():
        merged[name.replace("__", ".", 1)] = value
    return validate(with_values(Config(), merged))


@pytest.fixture(scope="session")
def warm(tmp_path_factory) -> None:
    """Import torch and load the tiny data set once, up front: the first Trainer would otherwise
    do it on the worker thread (seconds on a slow machine) inside some test's own wait."""
    from ganstudio.core.data import load_dataset

    load_dataset(tiny_config(tmp_path_factory.mktemp("warm")).data, seed=0)


@pytest.fixture(autouse=True)
def no_thread_left_running(qtbot):
    """Fail a test that leaves a QThread from ganstudio.qt.worker running, and stop it (through
    its Session when it has one) so that later tests are not poisoned.

    Runs after pytest-qt has closed and deleted the test's widgets: windows must come from
    `make_window`, which stops their training first (deleting a running QThread aborts Python)."""
    yield
    leftovers = []
    for thread in list(worker_module.THREADS):
        try:
            running = thread.isRunning()
        except RuntimeError:  # its C++ object was deleted: it had finished
            continue
        if running:
            leftovers.append(thread)
    for thread in leftovers:
        parent = thread.parent()
        stop = getattr(parent, "stop", None)
        if callable(stop):
            stop()
        try:
            qtbot.waitUntil(lambda t=thread: not t.isRunning(), timeout=WAIT_MS)
        except Exception:
            thread.quit()
            thread.wait(WAIT_MS)
    if leftovers:
        pytest.fail(
            f"{len(leftovers)} training thread(s) were still running after the test; "
            "stop the session and wait for it (session.stop(); waitUntil(not busy))"
        )


@pytest.fixture
def settings(tmp_path) -> QSettings:
    """QSettings on an INI file of this test's own, never the user's real settings."""
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.clear()
    return s


def stop_and_wait(qtbot, window) -> None:
    """Stop a window's training (if any) and wait until its thread has finished."""
    if window.session.busy:
        window.session.stop()
        qtbot.waitUntil(lambda: not window.session.busy, timeout=WAIT_MS)


def close_dialogs(window) -> None:
    for box in window.findChildren(QMessageBox):
        box.close()


@pytest.fixture
def make_window(qtbot, tmp_path, settings, warm) -> Callable[..., Any]:
    """make_window(config=None, **keys) -> a shown MainWindow built by build_window.

    Without `config`, a tiny config under tmp_path/"runs" with `keys` applied as section__key=value
    (train__steps=100); config=False builds it from the settings' last config, as the app does.
    On teardown, before pytest-qt closes and deletes the window, its dialogs are closed and any
    training still running is stopped and waited for (a QThread must never be deleted running).
    """
    from ganstudio.qt.app import build_window

    windows = []  # qtbot holds weak references only: a window must outlive the test's locals

    def shut_down(window) -> None:
        close_dialogs(window)
        stop_and_wait(qtbot, window)

    def make(config: Config | None | bool = None, **keys: Any):
        if config is False:
            cfg = None
        elif config is None:
            cfg = tiny_config(tmp_path / "runs", **keys)
        else:
            cfg = config
        window = build_window(cfg, settings)
        qtbot.addWidget(window, before_close_func=shut_down)
        # Closing must never open the blocking "Save before quitting?" question in a test.
        window.ask_close = lambda: "quit"
        window.show()
        windows.append(window)
        return window

    yield make
    windows.clear()


@pytest.fixture
def window(make_window):
    """A shown main window on the default tiny config (20 steps)."""
    return make_window()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, warm) -> Path:
    """A finished 20-step run folder written by the core alone (no Qt): checkpoints at steps 10
    and 20 plus latest.pt, sample grids every 5 steps. Tests only read it."""
    from ganstudio.core.run.driver import RunDriver

    cfg = tiny_config(tmp_path_factory.mktemp("shared") / "runs")
    driver = RunDriver(cfg, steer=False)
    driver.prepare()
    for _ in driver.events():
        pass
    driver.close()
    return driver.folder.path
