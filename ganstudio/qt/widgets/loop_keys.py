"""The keys of your own loop (`ganstudio.init(config={"my.key": ...}, live=[...])`) in the
hyperparameters panel: each with the value the loop has now, editable when the loop declared it
live. The values come from the run folder's run.json ("loop" table), which the loop rewrites after
each edit it applies; an edit goes to the loop like any live edit (the run handle sends it)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QWidget

NOT_LIVE = "Your loop does not take live edits of {key}: declare it with ganstudio.init(..., live=[{key!r}])."
LIVE = "{key}: your loop's own key; an edit reaches the loop at its next tick()."


def parse_like(text: str, current: Any) -> Any:
    """`text` as a value of the type of `current` (int, float or str); ValueError if it is not one."""
    text = text.strip()
    if isinstance(current, bool):
        raise ValueError("a checkbox value")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{text} is not a finite number")
        return value
    return text


class LoopKeys(QGroupBox):
    """Hidden unless the current run is written by a loop of the user's that has keys of its own."""

    edited = Signal(dict)  # {key: value} the user committed

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Your loop", parent)
        self.setObjectName("loop_keys")
        self._form = QFormLayout(self)
        self._fields: dict[str, QWidget] = {}
        self._values: dict[str, Any] = {}
        self._error = QLabel(objectName="loop_keys_error", wordWrap=True)
        self._error.setProperty("role", "field_error")
        self.hide()

    def set_loop(self, loop: dict | None) -> None:
        """Show run.json's "loop" table (`values`, `live`), or hide for a run that is not a loop's."""
        values = loop.get("values") if isinstance(loop, dict) else None
        values = {k: v for k, v in values.items() if isinstance(k, str)} if isinstance(values, dict) else {}
        live = set(loop.get("live") or ()) if isinstance(loop, dict) else set()
        if set(values) != set(self._fields):
            self._rebuild(values)
        self._values = values
        for key, w in self._fields.items():
            value = values[key]
            with QSignalBlocker(w):
                if isinstance(w, QCheckBox):
                    w.setChecked(bool(value))
                else:
                    w.setText(str(value))
            w.setEnabled(key in live)
            w.setToolTip((LIVE if key in live else NOT_LIVE).format(key=key))
        self.setVisible(bool(values))

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def field(self, key: str) -> QWidget:
        return self._fields[key]

    def _rebuild(self, values: dict[str, Any]) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        self._fields = {}
        for key, value in values.items():
            if isinstance(value, bool):
                w: QWidget = QCheckBox()
                w.toggled.connect(lambda on, k=key: self.edited.emit({k: on}))
            else:
                w = QLineEdit()
                w.editingFinished.connect(lambda k=key: self._commit(k))
            w.setObjectName(f"loop.{key}")
            self._fields[key] = w
            self._form.addRow(QLabel(key), w)
        self._error = QLabel(objectName="loop_keys_error", wordWrap=True)
        self._error.setProperty("role", "field_error")
        self._form.addRow(self._error)
        self._error.hide()

    def _commit(self, key: str) -> None:
        w = self._fields[key]
        try:
            value = parse_like(w.text(), self._values.get(key))
        except ValueError:
            self._error.setText(f"{key}: {w.text()!r} is not a {type(self._values.get(key)).__name__}")
            self._error.show()
            return
        self._error.hide()
        if value != self._values.get(key):
            self.edited.emit({key: value})
