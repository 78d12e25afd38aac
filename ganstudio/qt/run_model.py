"""The run the window shows, as a Qt model: a core RunState and its change notifications.

Whatever the source of a run's events (the app's training thread, or a run folder followed from
another process or machine), they arrive as one ordered list per batch and go through
`RunState.apply`, the one function that changes a run's state; views subscribe to `changed` (what
aspects changed, and the batch's events) and `reset` (a different run: start over) in their
`__init__` and redraw from the state. Lives and is used on the GUI thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from ganstudio.core.config import Config
from ganstudio.core.run.history import History
from ganstudio.core.run.state import RunState


@dataclass(frozen=True)
class RunChanges:
    """One batch: the aspects it changed (see ganstudio.core.run.state.Change) and its events, in order."""

    aspects: frozenset[str]
    events: list[Any]

    def __contains__(self, aspect: str) -> bool:
        return aspect in self.aspects

    def of_type(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


class RunModel(QObject):
    changed = Signal(object)  # RunChanges
    reset = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.state = RunState()

    @property
    def history(self) -> History:
        """The run's History; the same object for the model's whole life (views keep it)."""
        return self.state.history

    def apply(self, events: list[Any]) -> RunChanges:
        aspects: set[str] = set()
        for ev in events:
            aspects |= self.state.apply(ev).aspects
        changes = RunChanges(frozenset(aspects), list(events))
        if events:
            self.changed.emit(changes)
        return changes

    def start_over(self, config: Config | None = None, state: RunState | None = None) -> None:
        """Show another run: empty (a new run), or a copy of `state` (an opened checkpoint)."""
        if state is None:
            self.state.reset(config)
        else:
            self.state.adopt(state)
        self.reset.emit()
