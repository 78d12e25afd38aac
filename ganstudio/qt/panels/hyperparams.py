"""The hyperparameter panel: one field per config key, generated from `config.KEYS`.

A key added to config.py appears here without a change to this file. Every check is the core's
(`parse_value`, `check_value`, `validate`): the panel marks what they report and never clamps or
corrects a value, so the GUI accepts exactly what the CLI and a config file accept.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.config import (
    KEYS,
    LIVE_KEYS,
    Config,
    ConfigError,
    KeyInfo,
    arch_file_problem,
    check_value,
    get,
    locked_message,
    parse_value,
    validate,
    with_values,
)
from ganstudio.qt.model_code import imports_note
from ganstudio.qt.run_handle import NEW_RUN_HINT
from ganstudio.qt.widgets.loop_keys import LoopKeys

SECTION_TITLES = {
    "data": "Data",
    "model": "Model",
    "loss": "Loss",
    "optim": "Optimizer",
    "train": "Training",
    "log": "Logging",
}

LABELS = {
    "data.dataset": "Dataset",
    "data.root": "Data folder",
    "data.image_size": "Image size",
    "data.channels": "Channels",
    "data.augment": "Augment (DiffAugment)",
    "data.augment_p": "Augment chance",
    "model.arch": "Architecture",
    "model.latent_dim": "Latent size",
    "model.width": "Width",
    "model.spectral_norm": "Spectral norm",
    "model.conditional": "Conditional",
    "loss.kind": "Loss",
    "loss.gp_weight": "GP weight",
    "loss.r1": "R1 (on reals)",
    "loss.r2": "R2 (on fakes)",
    "loss.r_every": "R1/R2 every (steps)",
    "optim.lr_g": "Learning rate G",
    "optim.lr_d": "Learning rate D",
    "optim.beta1": "Adam beta1",
    "optim.beta2": "Adam beta2",
    "optim.d_steps": "D steps per G step",
    "train.batch_size": "Batch size",
    "train.steps": "Steps",
    "train.seed": "Seed",
    "train.device": "Device",
    "train.ema": "EMA decay",
    "train.amp": "bf16 autocast",
    "train.threads": "CPU threads",
    "log.every": "Stats every",
    "log.sample_every": "Samples every",
    "log.checkpoint_every": "Checkpoint every",
    "log.keep_checkpoints": "Keep checkpoints",
    "log.out": "Runs folder",
    "log.name": "Run name",
}

CHOICE_LABELS = {
    ("data.channels", 0): "0 (dataset's own)",
    ("data.channels", 1): "1 (grayscale)",
    ("data.channels", 3): "3 (RGB)",
    ("model.spectral_norm", "off"): "off",
    ("model.spectral_norm", "d"): "D only",
    ("model.spectral_norm", "both"): "G and D",
    ("loss.kind", "rpgan"): "rpgan (relativistic pairing)",
}

# Text keys that name a folder get a "…" button.
FOLDER_KEYS = {"data.root": "Choose the data folder", "log.out": "Choose the folder for run folders"}
# Choice fields that also take text of the user's own: model.arch names a built-in or your model
# file as FILE.py:FUNCTION (… picks the file; FUNCTION defaults to `build`).
FREE_CHOICE_KEYS = {"model.arch": "Choose your model file (FILE.py:FUNCTION, FUNCTION(cfg, sample_shape))"}
MODEL_FUNCTION = "build"

# Why a non-live key is locked while training runs, by section.
# A key as a whole word in a message: 'log.every' must not match inside 'log.sample_every'.
_KEY_PATTERNS = {key: re.compile(rf"(?<![\w.]){re.escape(key)}(?!\w)") for key in KEYS}

ERROR_COLOR = "#e5534b"
PENDING_COLOR = "#d29922"
PENDING_TIP = "Sent to the run; shown as applied once the run confirms it (its next step)."
STYLE_SHEET = f"""
QLineEdit[pending="true"], QComboBox[pending="true"] {{
    border: 1px dashed {PENDING_COLOR};
    border-radius: 3px;
    padding: 2px 3px;
    font-style: italic;
}}
QCheckBox[pending="true"] {{ font-style: italic; color: {PENDING_COLOR}; }}
QLineEdit[invalid="true"], QComboBox[invalid="true"] {{
    border: 1px solid {ERROR_COLOR};
    border-radius: 3px;
    padding: 2px 3px;
}}
QCheckBox[invalid="true"] {{ color: {ERROR_COLOR}; }}
QLabel[role="field_error"] {{ color: {ERROR_COLOR}; }}
QLabel#hyperparams_problems {{
    color: {ERROR_COLOR};
    border: 1px solid {ERROR_COLOR};
    border-radius: 3px;
    padding: 4px;
}}
"""


def label_for(key: str) -> str:
    """The human-readable label of a key; falls back to its name for keys without one."""
    return LABELS.get(key) or key.split(".", 1)[1].replace("_", " ").capitalize()


_KEY_NAMES = re.compile(
    r"(?<![\w.-])(" + "|".join(re.escape(k) for k in sorted(KEYS, key=len, reverse=True)) + r")(?![\w])"
)


def with_labels(text: str) -> str:
    """`text` (a message from the core) with each config key it names shown as this window names
    it: "optim.lr_g: must be > 0" -> "Learning rate G (optim.lr_g): must be > 0". A key already
    beside its label is left alone."""

    def label(m: re.Match) -> str:
        key = m.group(1)
        name = label_for(key)
        before = text[: m.start()].rstrip()
        before = before[:-1].rstrip() if before.endswith("(") else before
        return key if before.lower().endswith(name.lower()) else f"{name} ({key})"

    return _KEY_NAMES.sub(label, text)


def format_value(info: KeyInfo, value: object) -> str:
    """Text for a line edit that parses back to exactly `value`."""
    if info.type is float and isinstance(value, float):
        short = f"{value:g}"
        # :g keeps 6 significant digits; a longer value must not be rounded by a round trip.
        return short if float(short) == value else repr(value)
    return str(value)


LOOP_LOCK = (
    "Your loop does not take live edits of {key}: declare it with ganstudio.init(..., live=[{key!r}])"
    ", or watch the optimizers (run.watch) for optim.*."
)


def lock_tooltip(key: str) -> str:
    return f"{locked_message(key)}.\n{NEW_RUN_HINT}"


@dataclass
class _Field:
    info: KeyInfo
    widget: QWidget
    label: QLabel
    error_label: QLabel
    form: QFormLayout
    browse: QToolButton | None = None


class HyperparamsPanel(QWidget):
    """Every config key as a field, grouped by section, validated by the core's validator.

    `config_edited(Config)` fires when the user commits an edit that leaves the whole config valid;
    `valid_changed(bool)` when the panel's validity flips. `set_config` is the model -> widgets path.
    """

    config_edited = Signal(object)
    valid_changed = Signal(bool)
    loop_edited = Signal(dict)  # {key: value} of your own loop's keys (LoopKeys)

    def __init__(self, config: Config, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("hyperparams_panel")
        self.setStyleSheet(STYLE_SHEET)
        self._committed = config  # the last config set or emitted; config_edited fires on change
        self._current: Config | None = config  # what the fields show, None while it is invalid
        self._values = {key: get(config, key) for key in KEYS}
        self._field_errors: dict[str, str] = {}
        self._cross_errors: list[str] = []
        self._shown_errors: dict[str, str] = {}
        self._valid = True
        self._running = False
        self._read_only = ""  # why no field can be edited now ("" when they can)
        self._pending: frozenset[str] = frozenset()  # keys sent to the run, not yet applied
        self._header_count = 0
        self._fields: dict[str, _Field] = {}
        self._live_keys = LIVE_KEYS  # what a run takes live (a loop of yours: what it declared)
        self._own_loop = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self._scroll = QScrollArea()
        self._scroll.setObjectName("hyperparams_scroll")
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        content = QWidget()
        self._content_layout = QVBoxLayout(content)
        self._loop = LoopKeys()  # your own loop's keys, when the run is a loop's
        self._loop.edited.connect(self.loop_edited)
        self._content_layout.addWidget(self._loop)
        self._content_layout.setContentsMargins(0, 0, 4, 0)
        self._build_fields()
        self._content_layout.addStretch(1)
        self._scroll.setWidget(content)
        layout.addWidget(self._scroll, 1)

        self._problems = QLabel()
        self._problems.setObjectName("hyperparams_problems")
        self._problems.setWordWrap(True)
        self._problems.setTextFormat(Qt.TextFormat.RichText)
        self._problems.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self._problems.linkActivated.connect(self._on_problems_link_activated)
        self._problems.hide()
        layout.addWidget(self._problems)

        self._write_widgets()
        self._revalidate()

    # ---- public API ---------------------------------------------------------------------------

    def config(self) -> Config:
        """The fields' config while they are valid, else the last config set or emitted.

        Never a half-typed state: while a field is invalid this is what was last committed.
        """
        return self._current if self._current is not None else self._committed

    def commit(self) -> bool:
        """Emit config_edited for a valid edit not yet committed; returns is_valid().

        For callers acting on the config from a control that takes no focus (a toolbar's Start),
        so a value typed but not yet confirmed with Enter or by leaving the field is not lost.
        """
        if self._current is not None and self._current != self._committed:
            self._committed = self._current
            self.config_edited.emit(self._current)
        return self._valid

    def set_config(self, cfg: Config) -> None:
        """Show `cfg` in every field; emits valid_changed if validity flips, never config_edited.
        It is the run's config: no field is pending any more."""
        self._values = {key: get(cfg, key) for key in KEYS}
        self._field_errors = {}
        self._write_widgets()
        self._committed = cfg
        self.set_pending(())
        self._revalidate()

    def set_pending(self, keys) -> None:
        """Mark `keys` as sent to the run and not yet applied by it (the next `set_config`, with
        the run's config, clears every mark: applied, or refused and put back)."""
        self._pending = frozenset(keys)
        for key, f in self._fields.items():
            pending = key in self._pending
            if bool(f.widget.property("pending")) != pending:
                f.widget.setProperty("pending", pending)
                f.widget.style().unpolish(f.widget)
                f.widget.style().polish(f.widget)
            self._refresh_tooltip(key)

    def pending(self) -> frozenset[str]:
        """The keys sent to the run and not yet applied by it."""
        return self._pending

    def is_valid(self) -> bool:
        return self._valid

    def errors(self) -> dict[str, str]:
        """The current problem per key; cross-field messages naming no key are under ''."""
        out = dict(self._field_errors)
        for message in self._cross_errors:
            for key in self._keys_named(message) or [""]:
                out[key] = f"{out[key]}\n{message}" if key in out else message
        return out

    def set_running(self, running: bool) -> None:
        """While training runs only `config.LIVE_KEYS` stay editable."""
        self._running = running
        self._apply_enabled()

    def set_read_only(self, reason: str) -> None:
        """With a reason, no field is editable and each says why (a run that can only be watched);
        with "", the fields follow `set_running` again."""
        if reason != self._read_only:
            self._read_only = reason
            self._apply_enabled()

    def set_loop(self, loop: dict | None) -> None:
        """A run your own loop writes: its keys (run.json's "loop" table), and only the GAN Studio
        keys it takes live stay editable; None for any other run."""
        self._loop.set_loop(loop)
        editable = loop.get("editable") if isinstance(loop, dict) else None
        self._own_loop = isinstance(editable, list)
        self._live_keys = frozenset(editable) & LIVE_KEYS if self._own_loop else LIVE_KEYS
        self._apply_enabled()

    def loop_keys(self) -> LoopKeys:
        return self._loop

    def _apply_enabled(self) -> None:
        self._loop.setEnabled(not self._read_only)
        running = self._running
        for key, f in self._fields.items():
            enabled = not self._read_only and (not running or key in self._live_keys)
            f.widget.setEnabled(enabled)
            f.label.setEnabled(enabled)
            if f.browse is not None:
                f.browse.setEnabled(enabled)
            self._refresh_tooltip(key)

    def add_header_widget(self, widget: QWidget) -> None:
        """Put `widget` above the fields (after earlier header widgets), e.g. a preset chooser."""
        self.layout().insertWidget(self._header_count, widget)
        self._header_count += 1

    # ---- building -----------------------------------------------------------------------------

    def _build_fields(self) -> None:
        forms: dict[str, QFormLayout] = {}
        for key, info in KEYS.items():
            section = key.split(".", 1)[0]
            form = forms.get(section)
            if form is None:
                box = QGroupBox(SECTION_TITLES.get(section, section.capitalize()))
                box.setObjectName(f"hyperparams_section_{section}")
                form = QFormLayout(box)
                form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
                form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
                form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                self._content_layout.addWidget(box)
                forms[section] = form
            self._fields[key] = self._add_field(form, info)
        self._align_labels()

    def _align_labels(self) -> None:
        # One label column width for every section, so the fields line up down the panel.
        for f in self._fields.values():
            f.label.setMinimumWidth(0)
        width = max(f.label.sizeHint().width() for f in self._fields.values())
        for f in self._fields.values():
            f.label.setMinimumWidth(width)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and getattr(self, "_fields", None):
            self._align_labels()

    def _add_field(self, form: QFormLayout, info: KeyInfo) -> _Field:
        key = info.key
        browse = None
        if info.choices is not None:
            widget = QComboBox()
            for choice in info.choices:
                widget.addItem(CHOICE_LABELS.get((key, choice), str(choice)), choice)
            widget.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            widget.currentIndexChanged.connect(lambda _i, k=key: self._on_field_committed(k))
            if key in FREE_CHOICE_KEYS:
                widget.setEditable(True)
                widget.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
                widget.lineEdit().textEdited.connect(lambda _t, k=key: self._on_field_edited(k))
                widget.lineEdit().editingFinished.connect(lambda k=key: self._on_field_committed(k))
                # A built-in picked again after a text of one's own: the index may not change.
                widget.activated.connect(lambda _i, k=key: self._on_field_committed(k))
        elif info.type is bool:
            widget = QCheckBox()
            widget.toggled.connect(lambda _on, k=key: self._on_field_committed(k))
        else:
            widget = QLineEdit()
            widget.setMinimumWidth(60)
            widget.textEdited.connect(lambda _t, k=key: self._on_field_edited(k))
            widget.editingFinished.connect(lambda k=key: self._on_field_committed(k))
        widget.setObjectName(key)
        widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        field_widget: QWidget = widget
        if key in FOLDER_KEYS or key in FREE_CHOICE_KEYS:
            browse = QToolButton()
            browse.setObjectName(f"{key}.browse")
            browse.setText("…")
            browse.setToolTip(FOLDER_KEYS.get(key) or FREE_CHOICE_KEYS[key])
            browse.clicked.connect(lambda _c=False, k=key: self._on_browse_clicked(k))
            field_widget = QWidget()
            row = QHBoxLayout(field_widget)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(2)
            row.addWidget(widget, 1)
            row.addWidget(browse)

        label = QLabel(label_for(key))
        label.setBuddy(widget)
        form.addRow(label, field_widget)

        error_label = QLabel()
        error_label.setObjectName(f"{key}.error")
        error_label.setProperty("role", "field_error")
        error_label.setWordWrap(True)
        error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(error_label)
        form.setRowVisible(error_label, False)

        f = _Field(info=info, widget=widget, label=label, error_label=error_label, form=form, browse=browse)
        label.setToolTip(self._help_tooltip(key))
        widget.setToolTip(self._help_tooltip(key))
        return f

    # ---- model -> widgets ---------------------------------------------------------------------

    def _write_widgets(self) -> None:
        for key, f in self._fields.items():
            value = self._values[key]
            w = f.widget
            with QSignalBlocker(w):
                if isinstance(w, QComboBox) and w.isEditable() and w.findData(value) < 0:
                    w.setCurrentIndex(-1)  # no built-in chosen: picking any one is a change
                    w.setEditText(str(value))  # text of the user's own (a model file)
                elif isinstance(w, QComboBox):
                    w.setCurrentIndex(w.findData(value))
                elif isinstance(w, QCheckBox):
                    w.setChecked(bool(value))
                else:
                    w.setText(format_value(f.info, value))

    # ---- widgets -> state ---------------------------------------------------------------------

    def _read_field(self, key: str) -> None:
        """Parse and check one field into self._values / self._field_errors."""
        w = self._fields[key].widget
        self._field_errors.pop(key, None)
        try:
            if isinstance(w, QComboBox) and w.isEditable():
                text = w.currentText().strip()
                i = w.findText(text)
                value = w.itemData(i) if i >= 0 else text
            elif isinstance(w, QComboBox):
                value = w.currentData() if w.currentIndex() >= 0 else None
            elif isinstance(w, QCheckBox):
                value = w.isChecked()
            else:
                value = parse_value(key, w.text())
        except ConfigError as e:
            self._field_errors[key] = "\n".join(e.problems)
            return
        problem = check_value(key, value)
        if not problem and key == "model.arch" and not self._running:
            problem = arch_file_problem(value)  # a new run imports it: the file must be there
        if problem:
            self._field_errors[key] = problem
        else:
            self._values[key] = value

    def _revalidate(self) -> bool:
        """Check the whole config, refresh every mark and emit valid_changed on a flip."""
        for key in KEYS:
            if key not in self._field_errors:
                problem = check_value(key, self._values[key])
                if problem:
                    self._field_errors[key] = problem
        self._cross_errors = []
        candidate = None
        if not self._field_errors:
            candidate = with_values(self._committed, self._values)
            try:
                validate(candidate)
            except ConfigError as e:
                self._cross_errors = e.problems
                candidate = None
        self._current = candidate
        self._show_errors()
        valid = candidate is not None
        if valid != self._valid:
            self._valid = valid
            self.valid_changed.emit(valid)
        return valid

    def _show_errors(self) -> None:
        errors = self._shown_errors = self.errors()
        for key, f in self._fields.items():
            message = errors.get(key, "")
            invalid = bool(message)
            if bool(f.widget.property("invalid")) != invalid:
                f.widget.setProperty("invalid", invalid)
                f.widget.style().unpolish(f.widget)
                f.widget.style().polish(f.widget)
            f.error_label.setText(message)
            f.form.setRowVisible(f.error_label, invalid)
            self._refresh_tooltip(key)
        problems = list(self._field_errors.values()) + self._cross_errors
        if problems:
            self._problems.setText(self._problems_html(problems))
        self._problems.setVisible(bool(problems))

    def _problems_html(self, problems: list[str]) -> str:
        lines = []
        for message in problems:
            keys = self._keys_named(message)
            text = html.escape(message)
            if keys:  # a link that scrolls to the first field the message names
                text = f'<a href="{keys[0]}" style="color:{ERROR_COLOR}; text-decoration:none">{text}</a>'
            lines.append("• " + text)
        return "<br>".join(lines)

    def _keys_named(self, message: str) -> list[str]:
        return [key for key, pattern in _KEY_PATTERNS.items() if pattern.search(message)]

    def _help_tooltip(self, key: str) -> str:
        return f"{KEYS[key].help}\n({key})"

    def _refresh_tooltip(self, key: str) -> None:
        f = self._fields[key]
        if self._read_only:
            tip = f"{self._read_only}\n\n{self._help_tooltip(key)}"
        elif self._running and key not in self._live_keys:
            tip = LOOP_LOCK.format(key=key) if self._own_loop and key in LIVE_KEYS else lock_tooltip(key)
        else:
            error = self._shown_errors.get(key)
            tip = f"{error}\n\n{self._help_tooltip(key)}" if error else self._help_tooltip(key)
            if key in self._pending:
                tip = f"{PENDING_TIP}\n\n{tip}"
            if key == "model.arch":
                tip = f"{imports_note(self._values[key])}{tip}"
        f.widget.setToolTip(tip)
        f.label.setToolTip(tip)

    # ---- handlers -----------------------------------------------------------------------------

    def _on_field_edited(self, key: str) -> None:
        self._read_field(key)
        self._revalidate()

    def _on_field_committed(self, key: str) -> None:
        w = self._fields[key].widget
        if isinstance(w, QLineEdit):
            w.setModified(False)  # committed: a Space now pauses training rather than typing
        self._read_field(key)
        self._revalidate()
        self.commit()

    def _on_browse_clicked(self, key: str) -> None:
        w = self._fields[key].widget
        if key in FREE_CHOICE_KEYS:
            path, _ = QFileDialog.getOpenFileName(self, FREE_CHOICE_KEYS[key], "", "Python files (*.py)")
            if path:
                w.setEditText(f"{path}:{MODEL_FUNCTION}")
                self._on_field_committed(key)
            return
        folder = QFileDialog.getExistingDirectory(self, FOLDER_KEYS[key], w.text())
        if folder:
            w.setText(folder)
            self._on_field_committed(key)

    def _on_problems_link_activated(self, key: str) -> None:
        f = self._fields.get(key)
        if f is not None:
            if not f.error_label.isHidden():
                self._scroll.ensureWidgetVisible(f.error_label)
            self._scroll.ensureWidgetVisible(f.widget)
            f.widget.setFocus(Qt.FocusReason.OtherFocusReason)
