"""Thread-safe requests to a running trainer: pause, resume, single step, stop, live edits, save.

Every way of steering a run goes through one Control: the app's buttons (on the GUI thread), the
CLI's signal handlers, and the control file of a run folder (ganstudio.core.run.steer, on its own
thread). Plain `threading` only, so the GUI can hold one without importing torch.

The training loop consumes them through `Requests`, the protocol below: between steps it waits for
something to do (`wait`), then takes what was asked (`take`). A Control is one; a torchrun job's
agreed control (ganstudio.core.train.distributed.AgreedControl) is the other, which hands every rank
rank 0's requests at the same step.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from ganstudio.core.config import KEYS, Config, get

#: What `Requests.wait` returns: what the loop does next.
STOP, REQUEST, RUN, STEP, PAUSE = "stop", "request", "run", "step", "pause"
ACTIONS = (STOP, REQUEST, RUN, STEP, PAUSE)


@dataclass(frozen=True)
class SaveRequest:
    path: str | None = None  # None: into the run's checkpoint folder
    manual: bool = True  # asked for by someone: never rotated away


class Taken(NamedTuple):
    """What was asked since the last step: live edits ({"section.key": value}, each checked on its
    own, in order), checkpoints to save, and events other parts of the process posted for the run's
    stream (a file that could not be written, a request that could not be read)."""

    edits: list[dict[str, Any]]
    saves: list[SaveRequest]
    posted: list[Any]


class Requests(Protocol):
    """The requests protocol the training loop consumes between steps (`core.train.loop.run`).

    `wait(pause_reported)` blocks until there is something to do and says what: STOP, REQUEST
    (something to `take`), RUN, STEP (one step while paused), or PAUSE when paused and the loop has
    not said so yet (`pause_reported` False). `take()` hands over what was asked. `pause()` is the
    loop pausing the run itself (a NaN in the losses). `paused`, `stopping` and `save_on_stop` are
    the state the loop reads: the same on every rank of a job."""

    @property
    def paused(self) -> bool: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def save_on_stop(self) -> bool: ...

    def wait(self, pause_reported: bool = True) -> str: ...

    def take(self) -> Taken: ...

    def pause(self) -> None: ...


class Control:
    """Requests from other threads, honoured by the training loop between steps (`Requests`)."""

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

    def quiet(self) -> bool:
        """Nothing asked and not paused: a check without the lock, for a loop that asks every step
        (a request that lands meanwhile is seen at its next call; `wait` decides under the lock)."""
        return not (
            self._paused or self._stop or self._edits or self._save or self._posted or self._step_tokens
        )

    def take(self) -> Taken:
        """Everything asked since the last take: edits, saves and posted events."""
        with self._cond:
            out = Taken(self._edits, self._save, self._posted)
            self._edits, self._save, self._posted = [], [], []
            return out

    def has_requests(self) -> bool:
        """Edits or saves are waiting (posted events aside)."""
        with self._cond:
            return bool(self._edits or self._save)

    def take_requests(self) -> tuple[list[dict[str, Any]], list[SaveRequest]]:
        """The edits and saves asked since the last take, without the posted events: what a job's
        rank 0 hands every rank (its posted events are its own)."""
        with self._cond:
            out = self._edits, self._save
            self._edits, self._save = [], []
            return out

    def take_posted(self) -> list[Any]:
        """The events posted since the last take, without the edits and saves."""
        with self._cond:
            out, self._posted = self._posted, []
            return out

    def wait(self, pause_reported: bool = True, timeout: float | None = None) -> str | None:
        """Block until there is something to do: STOP, REQUEST, RUN or STEP; or PAUSE when paused
        and the caller has not reported it yet (checked under the lock, so a pause() that lands just
        before the wait is reported rather than waited in silently). With a `timeout`, None after
        that many seconds of nothing to do (a job's rank 0 ticks so while paused)."""
        with self._cond:
            while True:
                if self._stop:
                    return STOP
                if self._edits or self._save or self._posted:
                    return REQUEST
                if not self._paused:
                    return RUN
                if self._step_tokens > 0:
                    self._step_tokens -= 1
                    return STEP
                if not pause_reported:
                    return PAUSE
                if not self._cond.wait(timeout) and timeout is not None:
                    return None
