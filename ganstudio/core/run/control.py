"""Thread-safe requests to a running trainer: pause, resume, single step, stop, live edits, save.

Every way of steering a run goes through one Control: the app's buttons (on the GUI thread), the
CLI's signal handlers, and the control file of a run folder (ganstudio.core.run.steer, on its own
thread). Plain `threading` only, so the GUI can hold one without importing torch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ganstudio.core.config import KEYS, Config, get


@dataclass(frozen=True)
class SaveRequest:
    path: str | None = None  # None: into the run's checkpoint folder
    manual: bool = True  # asked for by someone: never rotated away


class Control:
    """Requests from other threads, honoured by `Trainer.run` between steps."""

    def __init__(self, *, paused: bool = False):
        self._cond = threading.Condition()
        self._paused = paused
        self._step_tokens = 0
        self._stop = False
        self._save_on_stop = True
        self._save: list[SaveRequest] = []
        self._edits: list[dict[str, Any]] = []
        self._posted: list[Any] = []

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def step(self, n: int = 1) -> None:
        """While paused: run n more steps, then stay paused."""
        with self._cond:
            self._step_tokens += n
            self._cond.notify_all()

    def stop(self, save: bool = True) -> None:
        """End the run after the current step; with save=False, without its final checkpoint."""
        with self._cond:
            self._stop = True
            self._save_on_stop = save
            self._cond.notify_all()

    @property
    def save_on_stop(self) -> bool:
        return self._save_on_stop

    def save_checkpoint(self, path: str | None = None, manual: bool = True) -> None:
        """Save at the next step boundary: to `path`, or to the run's checkpoint folder."""
        with self._cond:
            self._save.append(SaveRequest(path, manual))
            self._cond.notify_all()

    def update_values(self, values: dict[str, Any]) -> None:
        """Apply {"section.key": value} from the next step on. Each edit is checked on its own, in
        order, by the trainer (config.live_update): a refusal comes back as an Alert and leaves the
        other edits alone."""
        with self._cond:
            self._edits.append(dict(values))
            self._cond.notify_all()

    def update_config(self, cfg: Config) -> None:
        """Apply a whole config's live-editable changes from the next step on."""
        self.update_values({key: get(cfg, key) for key in KEYS})

    def post(self, event: Any) -> None:
        """An event from another part of the process (a file that could not be written, a request
        that could not be read) for the run's stream, yielded at the next step boundary."""
        with self._cond:
            self._posted.append(event)
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        return self._stop

    def _take(self) -> tuple[list[dict[str, Any]], list[SaveRequest], list[Any]]:
        with self._cond:
            out = self._edits, self._save, self._posted
            self._edits, self._save, self._posted = [], [], []
            return out

    def has_requests(self) -> bool:
        """Edits or saves are waiting (posted events aside)."""
        with self._cond:
            return bool(self._edits or self._save)

    def _take_requests(self) -> tuple[list[dict[str, Any]], list[SaveRequest]]:
        with self._cond:
            out = self._edits, self._save
            self._edits, self._save = [], []
            return out

    def _take_posted(self) -> list[Any]:
        with self._cond:
            out, self._posted = self._posted, []
            return out

    def _wait(self, pause_reported: bool = True) -> str:
        """Block until there is something to do: 'stop', 'run', 'step' or 'request'; or 'pause'
        when paused and the caller has not reported it yet (checked under the lock, so a pause()
        that lands just before the wait is reported rather than waited in silently)."""
        action = self._wait_for(pause_reported, None)
        assert action is not None
        return action

    def _wait_for(self, pause_reported: bool, timeout: float | None) -> str | None:
        """`_wait`, giving up after `timeout` seconds of nothing to do (None then)."""
        with self._cond:
            while True:
                if self._stop:
                    return "stop"
                if self._edits or self._save or self._posted:
                    return "request"
                if not self._paused:
                    return "run"
                if self._step_tokens > 0:
                    self._step_tokens -= 1
                    return "step"
                if not pause_reported:
                    return "pause"
                if not self._cond.wait(timeout) and timeout is not None:
                    return None
