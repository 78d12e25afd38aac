"""The last line of defence: an exception that nothing caught (a bug) is shown in the window, as
a message with the traceback behind Details, instead of only a traceback in the terminal while
the window carries on as if the click had done its job.

Installed by `ganstudio.qt.app.main` (not by windows built in tests, where pytest-qt reports such
exceptions itself). It chains to the hooks it replaces, so the traceback still reaches the terminal
as before. Exceptions from any thread are handed to the GUI thread by a queued signal; a burst (a
failing paint, sixty times a second) shows one message, with the number that followed it.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Signal

MIN_GAP_S = 5.0  # one message at most this often; the others are counted into the next one


class UnexpectedErrors(QObject):
    #: (message, details): what to show, and the traceback for the Details button.
    occurred = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._more = 0  # not shown since the last message (too soon after it)
        self._previous = None
        self._previous_thread = None

    def install(self) -> None:
        """Catch what reaches sys.excepthook (the GUI thread's slots and handlers) and
        threading.excepthook (Python threads)."""
        if sys.excepthook == self._hook:
            return
        self._previous, self._previous_thread = sys.excepthook, threading.excepthook
        sys.excepthook = self._hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        if sys.excepthook == self._hook:
            sys.excepthook = self._previous
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._previous_thread

    def _hook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        self._previous(exc_type, exc, tb)
        if not issubclass(exc_type, KeyboardInterrupt):
            self.report(exc_type, exc, tb)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        self._previous_thread(args)
        if args.exc_type is not SystemExit and args.exc_value is not None:
            where = f" (in the thread '{args.thread.name}')" if args.thread is not None else ""
            self.report(args.exc_type, args.exc_value, args.exc_traceback, where)

    def report(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, where: str = ""
    ) -> None:
        """Say it in the window (from any thread), unless a message went out less than MIN_GAP_S ago."""
        now = time.monotonic()
        with self._lock:
            if now - self._last < MIN_GAP_S:
                self._more += 1
                return
            self._last, more, self._more = now, self._more, 0
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        what = f"{exc_type.__name__}: {text}" if text else exc_type.__name__
        also = f" ({more} more unexpected error(s) came before this one and were not shown.)" if more else ""
        message = (
            f"GAN Studio hit an unexpected error{where}: {what}.\n\nThis is a bug in GAN Studio, "
            "not in your run: the run folder and its checkpoints are on disk. If part of the "
            "window stops responding, save a checkpoint and restart the app; Details says where "
            f"it happened, for a bug report.{also}"
        )
        self.occurred.emit(message, "".join(traceback.format_exception(exc_type, exc, tb)))
