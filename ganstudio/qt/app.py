"""QApplication set-up and `main(argv)`: `ganstudio`, `python main.py` and `python -m ganstudio`."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

# QtCore needs no display libraries; QtGui and QtWidgets do, so they are imported only after
# main() has checked for them (see system_libs).
from PySide6.QtCore import QCoreApplication, QSettings, QTimer

from ganstudio import __version__
from ganstudio.core.config import Config, ConfigError, load
from ganstudio.qt import system_libs

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

ORGANIZATION = "GAN Studio"
APPLICATION = "GAN Studio"


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists), with names for QSettings and the Fusion style,
    which follows the system's light or dark colour scheme."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0], *(argv or [])])
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    app.setStyle("Fusion")
    with _without_cuda_bindings():
        import pyqtgraph as pg

    # Thin, non-antialiased lines: 5-50x cheaper to draw at a million points.
    pg.setConfigOptions(antialias=False)
    return app


@contextlib.contextmanager
def _without_cuda_bindings() -> Iterator[None]:
    """Hide `cuda.bindings` while pyqtgraph is imported, then put it back.

    pyqtgraph's RawImageWidget (not used here) imports it if it is installed, as torch's CUDA wheels
    do: 0.07 s of start-up. pyqtgraph takes its absence as "no CUDA". torch imports it later, when
    training starts, as usual; so it is hidden only for the length of pyqtgraph's import.
    """
    if "cuda.bindings" in sys.modules:  # already imported: nothing to save
        yield
        return
    sys.modules["cuda.bindings"] = None  # type: ignore[assignment]  # makes its import fail fast
    try:
        yield
    finally:
        if "cuda.bindings" in sys.modules and sys.modules["cuda.bindings"] is None:
            del sys.modules["cuda.bindings"]


def build_window(config: Config | None = None, settings: QSettings | None = None):
    """The main window, ready to show, without entering the event loop (tests, embedding)."""
    from ganstudio.qt.main_window import MainWindow
    from ganstudio.qt.notifications import DesktopNotifications, tray_for

    collect_garbage_on_the_gui_thread()
    window = MainWindow(config, settings)
    # A tray message for alerts and the run's end while another window is in front.
    window.notifications = DesktopNotifications(window, window.session.model, tray_for(window))
    return window


@functools.cache
def collect_garbage_on_the_gui_thread() -> object:
    """Python's cycle collector runs in whichever thread allocates when it is due: in the
    training thread, it destroyed Qt objects of a closed window there, and ~QObject, holding one
    of Qt's signal-slot mutexes, waited for the GIL that the GUI thread held while waiting for
    that mutex (a deadlock, seen in a test). pyqtgraph's GarbageCollector turns the automatic
    collection off and collects on a GUI-thread timer (each second, when due) instead. Once per
    process; returns it (kept alive by the cache)."""
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=1.0)


def startup_error(qt_args: list[str], text: str, problems: list[str], fix: str) -> None:
    """Say why the app cannot open, in a window of its own (the main window never appears), and
    wait until it is closed."""
    from PySide6.QtWidgets import QMessageBox

    from ganstudio.qt.panels.hyperparams import with_labels

    make_app(qt_args)
    box = QMessageBox(QMessageBox.Icon.Critical, APPLICATION, text)
    box.setObjectName("startup_error")
    box.setInformativeText("\n".join(with_labels(p) for p in problems) + "\n\n" + fix)
    box.exec()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="ganstudio", description="GAN Studio desktop app")
    parser.add_argument("--config", metavar="FILE", help="open with this config (TOML)")
    parser.add_argument("--run", metavar="RUN_DIR", help="open this run folder and follow it live")
    parser.add_argument("--start", action="store_true", help="start training at once")
    args, qt_args = parser.parse_known_args(argv)
    config = None
    # Before Qt starts: a missing system library would otherwise abort the process (exit 134)
    # with a message about "platform plugins" that does not say what to install.
    problem = system_libs.problem(qt_args=qt_args)
    if args.config:
        try:
            config = load(args.config)
        except ConfigError as e:
            print("ganstudio: error: invalid configuration:\n  " + "\n  ".join(e.problems), file=sys.stderr)
            # Also in a window: started from a desktop launcher, nobody reads the terminal.
            if not problem:
                startup_error(
                    qt_args,
                    f"GAN Studio cannot open with the configuration {args.config}.",
                    e.problems,
                    "Fix the file, or start GAN Studio without --config.",
                )
            return 2
    if problem:
        print(problem, file=sys.stderr)
        return 2
    app = make_app(qt_args)
    window = build_window(config)
    window.unexpected.install()
    window.show()
    if args.run:
        QTimer.singleShot(0, lambda: window.open_run(args.run))
    if args.start:
        QTimer.singleShot(0, window.start)
    try:
        return app.exec()
    finally:
        window.unexpected.uninstall()
