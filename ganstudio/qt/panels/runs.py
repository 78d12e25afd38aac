"""The Runs dock: every run folder under the runs directory (log.out) and the folders the user added,
as a sortable, filterable tree (forks under their parents), kept up to date by scanning off the GUI
thread. Tick runs to compare them with the current one; rename a run, keep a note with it, or move
it to the trash (never a running run, never deleted). Replicates (runs whose configs differ only in
train.seed, or in the keys picked under Groups) are one row with their runs under it: ticked, the
plots draw their mean and band (core.run.groups). One run can be the baseline (right click): the
"vs Baseline" column and the plots' deltas compare with it.

The list comes from ganstudio.core.run.listing (the same rows `ganstudio runs` prints); the panel only
shows it and asks for things: opening a run, comparing the ticked ones (`ticked_changed`). What a
scan finds wrong is said in the dock (the row; a failed scan under the filter), never in a dialog,
which would stack every two seconds.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.run import groups
from ganstudio.core.run import listing as runs
from ganstudio.core.run.listing import RunInfo
from ganstudio.qt.runs_scan import RunsScan
from ganstudio.qt.widgets.run_grouping import GroupingButton
from ganstudio.qt.widgets.runs_tree import PROBLEM_COLOR, RunsTree


class RunsPanel(QWidget):
    # [(Path, name)] of the ticked runs, in the order they were ticked; also sent when the ticked
    # groups change (ticked_groups())
    ticked_changed = Signal(list)
    baseline_changed = Signal(object)  # the baseline run's folder (Set as Baseline), or None
    open_requested = Signal(str)  # a run folder to make the current run
    error = Signal(str)  # for a dialog: only about what the user just asked for (Rename…, Note…, Trash…)
    scanned = Signal()  # the list was brought up to date

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runs_panel")
        self._default_root: Path | None = None
        self._extra_roots: list[Path] = []
        self._scanner = runs.RunScanner()
        self._infos: dict[Path, RunInfo] = {}
        # (group_by, rows, groups) of groups.layout for the runs of _infos, as the scan thread laid
        # them out (or the GUI thread, when the grouping changed since)
        self._laid_out: tuple = (None, [], [])
        self._ticked: list[Path] = []
        self._told: tuple = ([], [])  # the ticked runs and groups when ticked_changed was last sent
        self._current: Path | None = None
        self._current_key: tuple | None = None  # (current run, its dataset) when ticks were last checked
        self._scan_problem = ""  # why the last scan failed ("" when it did not)
        self._untick_note = ""  # which runs were unticked for another dataset, and why
        self._current_listed: Path | None = None  # its key in _infos (found once a layout, _apply_layout)
        self._live: tuple[int, str, float] | None = None  # the current run's step, status, wall (show_live)
        self._expected: list[str] = []  # checkpoints of forks launched from here: tick them when they appear
        self._group_by: tuple[str, ...] | None = groups.DEFAULT_IGNORED  # None: no group rows
        self._groups: dict[str, groups.RunGroup] = {}  # by key, as the last layout found them
        self._ticked_groups: list[str] = []  # keys, in the order they were ticked
        self._baseline: Path | None = None
        self._pending_baseline: Path | None = None  # the last session's, set once a scan lists it
        # Replaced by tests: dialogs that would block.
        self.ask_text = self._ask_text
        self.confirm = self._confirm

        self._filter = QLineEdit(objectName="runs_filter", placeholderText="Filter runs…")
        self._filter.setClearButtonEnabled(True)
        self._notice = QLabel(objectName="runs_notice")
        self._notice.setWordWrap(True)
        self._notice.setStyleSheet(f"color: {PROBLEM_COLOR}")
        self._notice.hide()
        self._view = RunsTree()
        self._add = QPushButton("Add Folder…", objectName="runs_add_folder")
        self._add.setToolTip("Also list the runs in another folder")
        self._rename = QPushButton("Rename…", objectName="runs_rename")
        self._note = QPushButton("Note…", objectName="runs_note")
        self._trash = QPushButton("Trash…", objectName="runs_trash")
        self._untick = QPushButton("Untick All", objectName="runs_untick_all")
        self._untick.setToolTip("Compare none of the runs with the current one")
        self._grouping = GroupingButton(self, self.set_group_by)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self._add, self._rename, self._note, self._trash, self._untick, self._grouping):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._filter)
        layout.addWidget(self._notice)
        layout.addWidget(self._view, 1)
        layout.addLayout(buttons)

        self._filter.textChanged.connect(self._view.set_filter)
        self._view.tick_changed.connect(self._on_view_tick_changed)
        self._view.selectionModel().currentChanged.connect(self._on_view_current_changed)
        self._view.doubleClicked.connect(self._on_view_double_clicked)
        self._view.customContextMenuRequested.connect(self._on_view_context_menu)
        self._add.clicked.connect(self._on_add_clicked)
        self._rename.clicked.connect(lambda: self.rename(self.selected()))
        self._note.clicked.connect(lambda: self.edit_note(self.selected()))
        self._trash.clicked.connect(lambda: self.trash(self.selected()))
        self._untick.clicked.connect(self.untick_all)
        self._update_buttons()

        self._scans = RunsScan(self._scanner, self.roots, self.group_by, self)
        self._scans.found.connect(self._on_scans_found)
        self._scans.failed.connect(self._say_scan)

    # ----- what is listed ----------------------------------------------------------------------

    def set_default_root(self, path: str | Path) -> None:
        """The runs directory of the current config (log.out); listed first."""
        root = Path(path).expanduser().resolve()
        if root != self._default_root:
            self._default_root = root
            self.rescan()

    def add_root(self, path: str | Path) -> None:
        root = Path(path).expanduser().resolve()
        if root != self._default_root and root not in self._extra_roots:
            self._extra_roots.append(root)
            self.rescan()

    def extra_roots(self) -> list[Path]:
        return list(self._extra_roots)

    def roots(self) -> list[Path]:
        return ([self._default_root] if self._default_root is not None else []) + self._extra_roots

    def infos(self) -> list[RunInfo]:
        return list(self._infos.values())

    def info(self, path: str | Path) -> RunInfo | None:
        return self._infos.get(Path(path))

    @property
    def building(self) -> bool:
        """Whether the tree is still making rows (a long list is made across event-loop turns)."""
        return self._view.building

    def set_current(self, path: str | Path | None, dataset: str = "") -> None:
        """The window's current run, shown in bold (comparing it with itself means nothing), and
        its dataset. When another run becomes the current one, ticked runs of another dataset are
        unticked (a 20k-step ring8 run stretched the digits plots' axes) and the dock says which
        under its filter (a status bar message would be gone under the opened run's own at once)."""
        current = Path(path).resolve() if path is not None else None
        if current != self._current:
            self._live = None
        self._current = current
        key = (current, dataset)
        if dataset and key != self._current_key:
            self._current_key = key
            other = [
                p
                for p in self._ticked
                if self._infos.get(p) is not None and self._infos[p].dataset not in ("", dataset)
            ]
            self._ticked = [p for p in self._ticked if p not in other]
            names = ", ".join(f"{self._infos[p].name} ({self._infos[p].dataset})" for p in other)
            self._untick_note = (
                ""
                if not other
                else (
                    f"Unticked {names}: another dataset than the current run's ({dataset}). Tick again to "
                    "compare anyway."
                )
            )
            self._show_notice()
        self._apply_layout()

    def notice(self) -> str:
        """What the dock says under its filter now ("" when nothing)."""
        return self._notice.text() if not self._notice.isHidden() else ""

    def show_live(self, step: int, status: str, duration: float) -> None:
        """The current run's step, status and duration (its last stats' wall) as the window has
        them now: its row shows them rather than what its folder said at the last scan (up to
        SCAN_S older), so the dock and the status bar agree. A later scan that reads more (another
        process writing) still wins."""
        if self._live == (step, status, duration):
            return
        self._live = (step, status, duration)
        info = self._infos.get(self._current_listed) if self._current_listed is not None else None
        if info is not None:
            self._view.refresh_row(self._shown(info), self._current_listed)

    def expect_fork(self, checkpoint: str | Path) -> None:
        """A fork of `checkpoint` was launched from here: tick its run as soon as it is listed."""
        self._expected.append(str(Path(checkpoint).resolve()))

    # ----- ticks -------------------------------------------------------------------------------

    def ticked(self) -> list[tuple[Path, str]]:
        return [(p, self._infos[p].name) for p in self._ticked if p in self._infos]

    def ticked_groups(self) -> list[groups.RunGroup]:
        """The ticked groups of replicates (each drawn as one mean line and its band)."""
        return [self._groups[k] for k in self._ticked_groups if k in self._groups]

    def groups(self) -> list[groups.RunGroup]:
        return list(self._groups.values())

    def group_by(self) -> tuple[str, ...] | None:
        return self._group_by

    def set_group_by(self, keys: tuple[str, ...] | None) -> None:
        """Group runs whose configs differ only in `keys` (config keys) into one row each; None:
        no group rows."""
        if keys != self._group_by:
            self._group_by = keys
            self._grouping.show_keys(keys)
            self._apply_layout()

    # ----- the baseline ------------------------------------------------------------------------

    def baseline(self) -> Path | None:
        return self._baseline

    def restore_baseline(self, path: str | Path | None) -> None:
        """The baseline of the last session: set when a scan lists its run (not if it is gone),
        unless the user has set one by then."""
        self._pending_baseline = Path(path) if path else None

    def set_baseline(self, path: str | Path | None) -> None:
        """Compare every run with this one (the "vs Baseline" column; the plots' deltas)."""
        self._pending_baseline = None
        path = Path(path) if path is not None else None
        if path == self._baseline:
            return
        self._baseline = path
        self._apply_layout()
        self.baseline_changed.emit(path)

    def set_ticked(self, path: str | Path, on: bool) -> None:
        self._view.set_checked(Path(path), on)

    @Slot()
    def untick_all(self) -> None:
        """Compare none of the runs: one change, not one per run (each would redraw the plots)."""
        if not self._ticked and not self._ticked_groups:
            return
        self._ticked, self._ticked_groups = [], []
        self._untick_note = ""
        self._show_notice()
        self._apply_layout()

    # ----- scanning (off the GUI thread) -------------------------------------------------------

    @Slot()
    def rescan(self) -> None:
        """Look at the folders again now (or right after the scan in flight)."""
        self._scans.rescan()

    @property
    def scanning(self) -> bool:
        return self._scans.scanning

    def shutdown(self) -> None:
        """Stop scanning and wait for a scan in flight (the window is closing)."""
        self._scans.shutdown()

    @Slot(list, object)
    def _on_scans_found(self, found: list[RunInfo], laid_out: tuple) -> None:
        self._say_scan(None)
        # The scanner hands back the same RunInfo for a run whose files did not change: a scan
        # that changed nothing changes no row (refilling every row every SCAN_S took the GUI
        # thread from training for tens of milliseconds with a few hundred runs).
        same = len(found) == len(self._infos) and all(self._infos.get(r.path) is r for r in found)
        self._infos = {r.path: r for r in found}
        self._laid_out = laid_out
        if self._tick_expected_forks() or not same:
            self._apply_layout()
        pending = self._pending_baseline
        if pending is not None and pending in self._infos and self._infos[pending].is_run:
            self.set_baseline(pending)
        self.scanned.emit()

    def _say_scan(self, failure: Exception | None) -> None:
        """A failed scan is said in the dock (the rows stay as the last scan left them), with its
        traceback once in the terminal; the next scan that works clears it."""
        problem = (
            ""
            if failure is None
            else (
                f"Listing the runs failed ({type(failure).__name__}: {failure}); the list shows the last "
                "scan and is tried again every few seconds. This is a bug in GAN Studio: please report it."
            )
        )
        if problem == self._scan_problem:
            return
        self._scan_problem = problem
        self._show_notice()
        if failure is not None:
            details = "".join(traceback.format_exception(failure))
            print(details, file=sys.stderr)
            self._notice.setToolTip(details)

    def _show_notice(self) -> None:
        text = "\n".join(t for t in (self._scan_problem, self._untick_note) if t)
        self._notice.setText(text)
        self._notice.setVisible(bool(text))
        if not self._scan_problem:
            self._notice.setToolTip("")

    def _tick_expected_forks(self) -> bool:
        """Tick the forks launched from here that are listed now: whether there were any."""
        ticked = False
        for info in self._infos.values():
            checkpoint = (info.parent or {}).get("checkpoint")
            ready = info.dataset != ""  # its config is written: it can be followed
            if ready and checkpoint in self._expected and info.path not in self._ticked:
                self._expected.remove(checkpoint)
                self._ticked.append(info.path)
                ticked = True
        return ticked

    # ----- the tree ----------------------------------------------------------------------------

    def compact_height(self, rows: int = 5) -> int:
        """The panel's height showing `rows` runs: what the dock starts at, leaving the plots room."""
        row = self._view.row_height()
        header = self._view.header().sizeHint().height()
        margins = self.layout().contentsMargins()
        spacing = self.layout().spacing() * 2
        buttons = self._add.sizeHint().height()
        return (
            self._filter.sizeHint().height()
            + header
            + rows * row
            + 2 * self._view.frameWidth()
            + buttons
            + spacing
            + margins.top()
            + margins.bottom()
        )

    def _apply_layout(self) -> None:
        """Show the runs: the tree makes, moves, removes and refills only the rows that changed, a
        long list across event-loop turns (RunsTree.show_rows)."""
        order, found = self._layout()
        self._groups = {g.key: g for g in found}
        # Resolved once here, not each time a row is filled (show_live fills the current run's row
        # on every stats batch); found as written first (a resolve is a syscall per part of a path).
        current = self._current
        self._current_listed = (
            None
            if current is None
            else current
            if current in self._infos
            else next((p for p in self._infos if p.resolve() == current), None)
        )
        self._ticked = [p for p in self._ticked if p in self._infos]
        shown = [(depth, self._shown(info)) for depth, info in order]
        self._view.set_baseline(self._infos.get(self._baseline) if self._baseline is not None else None)
        self._view.show_rows(shown, self._current_listed, [*self._ticked, *self._ticked_groups])
        self._update_buttons()
        self._tell_ticked()

    def _layout(self) -> tuple[list, list[groups.RunGroup]]:
        """The rows and groups of the listed runs: the scan thread's, when it laid out these very
        runs with the grouping of now; else laid out here (the user changed the grouping)."""
        group_by, order, found = self._laid_out
        listed = [r for _, r in order if not isinstance(r, groups.RunGroup)]
        if (
            group_by != self._group_by
            or len(listed) != len(self._infos)
            or any(self._infos.get(r.path) is not r for r in listed)
        ):
            order, found = groups.layout(self._infos.values(), self._group_by)
            self._laid_out = (self._group_by, order, found)
        return order, found

    def _tell_ticked(self) -> None:
        told = (self.ticked(), [(g.key, tuple(g.paths)) for g in self.ticked_groups()])
        if told != self._told:
            self._told = told
            self.ticked_changed.emit(told[0])

    def _shown(self, info: RunInfo | groups.RunGroup) -> RunInfo | groups.RunGroup:
        """`info`, with the window's step, status and duration when it is the current run's."""
        live = self._live
        if (
            isinstance(info, groups.RunGroup)
            or info.path != self._current_listed
            or live is None
            or live[0] < info.step
            or not info.is_run
        ):
            return info
        step, status, duration = live
        return dataclasses.replace(info, step=step, status=status, duration=max(duration, info.duration))

    def rows(self) -> list[dict[str, str]]:
        """What the tree shows, in its order (with sorting and the filter), for tests: a dict per
        row of the headers' texts, plus "depth", "checked" and "path"."""
        return self._view.rows()

    # ----- selection and actions ---------------------------------------------------------------

    def selected(self) -> Path | None:
        return self._view.selected()

    def select(self, path: str | Path) -> None:
        self._view.select(path)

    def trash_button(self) -> QPushButton:
        return self._trash

    def _update_buttons(self) -> None:
        info = self._infos.get(self.selected()) if self.selected() is not None else None
        for b in (self._rename, self._note):
            b.setEnabled(info is not None and info.is_run)
        self._untick.setEnabled(bool(self._ticked or self._ticked_groups))
        why = "Select a run first" if info is None else info.why_not_trash()
        self._trash.setEnabled(not why)
        self._trash.setToolTip(why or "Move the selected run to the .trash folder beside it (asks first)")

    def rename(self, path: Path | None) -> None:
        info = self._infos.get(path) if path is not None else None
        if info is None:
            return
        name = self.ask_text("Rename Run", f"Name of {info.path.name}:", info.name)
        if name is None or name.strip() == info.name:
            return
        self._do(runs.rename, info.path, name)

    def edit_note(self, path: Path | None) -> None:
        info = self._infos.get(path) if path is not None else None
        if info is None:
            return
        note = self.ask_text("Note", f"A note on {info.name}:", info.note)
        if note is not None:
            self._do(runs.set_note, info.path, note)

    def trash(self, path: Path | None) -> None:
        info = self._infos.get(path) if path is not None else None
        if info is None:
            return
        why = info.why_not_trash()
        if why:
            self.error.emit(f"Not moved to the trash: {why}.")
            return
        if not self.confirm(
            f"Move {info.name} to the trash?\n\n{info.path} goes to the .trash folder "
            "beside it; nothing is deleted."
        ):
            return
        if info.path in self._ticked:
            self.set_ticked(info.path, False)
        self._do(runs.trash, info.path)

    def _do(self, fn, *args) -> None:
        try:
            fn(*args)
        except runs.RunsError as e:
            self.error.emit(str(e))
        self.rescan()

    def _ask_text(self, title: str, label: str, text: str) -> str | None:
        value, ok = QInputDialog.getText(self, title, label, QLineEdit.EchoMode.Normal, text)
        return value if ok else None

    def _confirm(self, text: str) -> bool:
        answer = QMessageBox.question(self, "GAN Studio", text)
        return answer == QMessageBox.StandardButton.Yes

    # ----- handlers ----------------------------------------------------------------------------

    def _on_view_tick_changed(self, path: Path | str, on: bool) -> None:
        ticked = self._ticked_groups if isinstance(path, str) else self._ticked  # a group's key, or a run
        if on and path not in ticked:
            ticked.append(path)
        elif not on and path in ticked:
            ticked.remove(path)
        if self._untick_note:  # the user ticks by hand now: the note about earlier ticks is done
            self._untick_note = ""
            self._show_notice()
        self._update_buttons()
        self._tell_ticked()

    def _on_view_current_changed(self, *_args) -> None:
        self._update_buttons()

    def _on_view_double_clicked(self, index) -> None:
        info = self._infos.get(self._view.path_of(index))
        if info is not None and info.openable:
            self.open_requested.emit(str(info.path))

    def _on_view_context_menu(self, pos) -> None:
        menu = self.context_menu(self._view.path_at(pos))
        if menu is not None:
            menu.popup(self._view.viewport().mapToGlobal(pos))

    def context_menu(self, path: Path | None) -> QMenu | None:
        """The menu a right click on the row of `path` opens (None for no run there)."""
        info = self._infos.get(path) if path is not None else None
        if info is None:
            return None
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        opened = menu.addAction("Open", lambda: self.open_requested.emit(str(info.path)))
        opened.setEnabled(info.openable)
        if info.status == runs.STARTING:
            opened.setToolTip("Its process is still starting: it has no config to show yet")
        compare = menu.addAction("Compare")
        compare.setCheckable(True)
        compare.setChecked(info.path in self._ticked)
        compare.setEnabled(info.is_run)
        compare.toggled.connect(lambda on: self.set_ticked(info.path, on))
        menu.addAction("Untick All", self.untick_all).setEnabled(bool(self._ticked or self._ticked_groups))
        menu.addSeparator()
        baseline = menu.addAction("Set as Baseline", lambda: self.set_baseline(info.path))
        baseline.setEnabled(info.is_run and info.path != self._baseline)
        baseline.setToolTip("Compare the other runs with this one: the vs Baseline column, the plots' deltas")
        menu.addAction("Clear Baseline", lambda: self.set_baseline(None)).setEnabled(
            self._baseline is not None
        )
        menu.addSeparator()
        menu.addAction("Rename…", lambda: self.rename(info.path)).setEnabled(info.is_run)
        menu.addAction("Note…", lambda: self.edit_note(info.path)).setEnabled(info.is_run)
        trash: QAction = menu.addAction("Move to Trash…", lambda: self.trash(info.path))
        why = info.why_not_trash()
        trash.setEnabled(not why)
        trash.setToolTip(why)
        return menu

    @Slot()
    def _on_add_clicked(self) -> None:
        start = str(self._default_root or Path.cwd())
        path = QFileDialog.getExistingDirectory(self, "Add a Folder of Runs", start)
        if path:
            self.add_root(path)
