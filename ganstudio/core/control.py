"""Thread-safe requests to a running trainer: pause, resume, single step, stop, live edits, save.

Plain `threading` only, so the GUI can hold one without importing torch.
"""

from __future__ import annotations

import threading

from ganstudio.core.config import Config


class Control:
    """Requests from other threads, honoured by `Trainer.run` between steps."""

    def __init__(self, *, paused: bool = False):
        self._cond = threading.Condition()
        self._paused = paused
        self._step_tokens = 0
        self._stop = False
        self._save_on_stop = True
        self._save: list[str | None] = []
        self._config: Config | None = None

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

    def save_checkpoint(self, path: str | None = None) -> None:
        """Save at the next step boundary: to `path`, or to the run's rotating checkpoint folder."""
        with self._cond:
            self._save.append(path)
            self._cond.notify_all()

    def update_config(self, cfg: Config) -> None:
        """Apply live-editable changes from the next step on (the latest request wins)."""
        with self._cond:
            self._config = cfg
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        return self._stop

    def _take(self) -> tuple[Config | None, list[str | None]]:
        with self._cond:
            cfg, save = self._config, self._save
            self._config, self._save = None, []
            return cfg, save

    def _wait(self, pause_reported: bool = True) -> str:
        """Block until there is something to do: 'stop', 'run', 'step' or 'request'; or 'pause'
        when paused and the caller has not reported it yet (checked under the lock, so a pause()
        that lands just before the wait is reported rather than waited in silently)."""
        with self._cond:
            while True:
                if self._stop:
                    return "stop"
                if self._config is not None or self._save:
                    return "request"
                if not self._paused:
                    return "run"
                if self._step_tokens > 0:
                    self._step_tokens -= 1
                    return "step"
                if not pause_reported:
                    return "pause"
                self._cond.wait()
