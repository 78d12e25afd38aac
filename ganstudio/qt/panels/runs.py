"""The Runs dock: every run folder under the runs directory (log.out) and the folders the user added,
as a sortable, filterable tree (forks under their parents), kept up to date by scanning off the GUI
thread. Tick runs to compare them with the current one; rename a run, keep a note with it, or move
it to the trash (never a running run, never deleted).

The list comes from ganstudio.core.run.listing (the same rows `ganstudio runs` prints); the panel only
shows it and asks for things: opening a run, comparing the ticked ones (`ticked_changed`). What a
scan finds wrong is said in the dock (the row; a failed scan under the filter), never in a dialog,
which would stack every two seconds.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QBrush, QColor, QFontMetrics, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.run import listing as runs
from ganstudio.core.run.listing import RunInfo

SCAN_S = 2.0  # how often the folders are looked at again (only changed runs are re-read)
POLL_MS = 20  # while a scan is in flight, how often the GUI thread looks for its result
# The folder tells apart runs of one name (every run of a default config has the same one).
HEADERS = (
    "Name",
    "Folder",
    "Dataset",
    "Arch",
    "Loss",
    "Steps",
    "Status",
    "Started",
    "Duration",
    "Metric",
    "Note",
)
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
PROBLEM_COLOR = "#c2410c"


class RunsPanel(QWidget):
    ticked_changed = Signal(list)  # [(Path, name)] of the ticked runs, in the order they were ticked
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
        self._layout_key: tuple = ()
        self._ticked: list[Path] = []
        # Set while the rows are (re)filled: their check states change then, not the user's ticks.
        # (Blocking the model's signals instead left the sort proxy and the view holding rows the
        # model had removed, and the next look at the current row crashed.)
        self._filling = False
        self._told: list[tuple[Path, str]] = []  # what ticked_changed said last
        self._current: Path | None = None
        self._current_key: tuple | None = None  # (current run, its dataset) when ticks were last checked
        self._scan_problem = ""  # why the last scan failed ("" when it did not)
        self._untick_note = ""  # which runs were unticked for another dataset, and why
        self._current_listed: Path | None = None  # its key in _infos (found once per scan, see _apply_layout)
        self._live: tuple[int, str, float] | None = None  # the current run's step, status, wall (show_live)
        self._expected: list[str] = []  # checkpoints of forks launched from here: tick them when they appear
        # One plain thread scans; the GUI thread collects the result from a timer. Not a QThread
        # per scan: a Worker deleted on its finishing thread every 2 s while the GUI thread made
        # widgets deadlocked PySide6 (the worker's ~QObject waited for the GIL, the GUI thread for
        # Qt's signal-slot mutex).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runs-scan")
        self._scan: Future | None = None
        self._again = False
        self._closed = False
        # Replaced by tests: dialogs that would block.
        self.ask_text = self._ask_text
        self.confirm = self._confirm

        self._filter = QLineEdit(objectName="runs_filter", placeholderText="Filter runs…")
        self._filter.setClearButtonEnabled(True)
        self._notice = QLabel(objectName="runs_notice")
        self._notice.setWordWrap(True)
        self._notice.setStyleSheet(f"color: {PROBLEM_COLOR}")
        self._notice.hide()
        self._model = QStandardItemModel(0, len(HEADERS), self)
        self._model.setHorizontalHeaderLabels(list(HEADERS))
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self._model)
        self._proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._proxy.setFilterKeyColumn(-1)
        self._proxy.setRecursiveFilteringEnabled(True)
        self._proxy.setSortRole(SORT_ROLE)
        self._view = QTreeView(objectName="runs_tree")
        self._view.setModel(self._proxy)
        self._view.setSortingEnabled(True)
        self._view.sortByColumn(HEADERS.index("Started"), Qt.SortOrder.AscendingOrder)
        self._view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._view.setAlternatingRowColors(True)
        self._view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # Sized to the contents when rows come or go, not on every cell change (ResizeToContents
        # measured all 200 rows of a big folder on each update, on the GUI thread).
        self._view.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self._view.header().setStretchLastSection(True)

        self._add = QPushButton("Add Folder…", objectName="runs_add_folder")
        self._add.setToolTip("Also list the runs in another folder")
        self._rename = QPushButton("Rename…", objectName="runs_rename")
        self._note = QPushButton("Note…", objectName="runs_note")
        self._trash = QPushButton("Trash…", objectName="runs_trash")
        self._untick = QPushButton("Untick All", objectName="runs_untick_all")
        self._untick.setToolTip("Compare none of the runs with the current one")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self._add, self._rename, self._note, self._trash, self._untick):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._filter)
        layout.addWidget(self._notice)
        layout.addWidget(self._view, 1)
        layout.addLayout(buttons)

        self._filter.textChanged.connect(self._on_filter_text_changed)
        self._model.itemChanged.connect(self._on_model_item_changed)
        self._view.selectionModel().currentChanged.connect(self._on_view_current_changed)
        self._view.doubleClicked.connect(self._on_view_double_clicked)
        self._view.customContextMenuRequested.connect(self._on_view_context_menu)
        self._add.clicked.connect(self._on_add_clicked)
        self._rename.clicked.connect(lambda: self.rename(self.selected()))
        self._note.clicked.connect(lambda: self.edit_note(self.selected()))
        self._trash.clicked.connect(lambda: self.trash(self.selected()))
        self._untick.clicked.connect(self.untick_all)
        self._update_buttons()

        self._timer = QTimer(self, objectName="runs_scan_timer")
        self._timer.setInterval(int(SCAN_S * 1000))
        self._timer.timeout.connect(self.rescan)
        self._timer.start()
        self._poll = QTimer(self, objectName="runs_scan_poll")
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll_timeout)

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
        self._apply_layout(force=True)

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
        if info is not None and self._name_item(info.path) is not None:
            self._fill_row(self._row_items(info.path), info)

    def expect_fork(self, checkpoint: str | Path) -> None:
        """A fork of `checkpoint` was launched from here: tick its run as soon as it is listed."""
        self._expected.append(str(Path(checkpoint).resolve()))

    # ----- ticks -------------------------------------------------------------------------------

    def ticked(self) -> list[tuple[Path, str]]:
        return [(p, self._infos[p].name) for p in self._ticked if p in self._infos]

    def set_ticked(self, path: str | Path, on: bool) -> None:
        path = Path(path)
        item = self._name_item(path)
        if item is not None:
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    @Slot()
    def untick_all(self) -> None:
        """Compare none of the runs: one change, not one per run (each would redraw the plots)."""
        if not self._ticked:
            return
        self._ticked = []
        self._untick_note = ""
        self._show_notice()
        self._apply_layout(force=True)

    # ----- scanning (off the GUI thread) -------------------------------------------------------

    @Slot()
    def rescan(self) -> None:
        """Look at the folders again now (or right after the scan in flight)."""
        if self._closed:
            return
        if self._scan is not None:
            self._again = True
            return
        self._scan = self._executor.submit(self._scanner.scan, self.roots())
        self._poll.start()

    @property
    def scanning(self) -> bool:
        return self._scan is not None

    def shutdown(self) -> None:
        """Stop scanning and wait for a scan in flight (the window is closing)."""
        self._closed = True
        self._timer.stop()
        self._poll.stop()
        self._executor.shutdown(wait=True, cancel_futures=True)

    @Slot()
    def _on_poll_timeout(self) -> None:
        scan = self._scan
        if scan is None or not scan.done():
            return
        self._scan = None
        self._poll.stop()
        try:
            found, failure = scan.result(), None
        except Exception as e:  # a bug, not the folders (describe never raises for them)
            found, failure = None, e
        self._say_scan(failure)
        if found is not None:
            self._infos = {r.path: r for r in found}
            self._tick_expected_forks()
            self._apply_layout()
            self.scanned.emit()
        if self._again:
            self._again = False
            self.rescan()

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

    def _tick_expected_forks(self) -> None:
        for info in self._infos.values():
            checkpoint = (info.parent or {}).get("checkpoint")
            ready = info.dataset != ""  # its config is written: it can be followed
            if ready and checkpoint in self._expected and info.path not in self._ticked:
                self._expected.remove(checkpoint)
                self._ticked.append(info.path)
                self._layout_key = ()  # rebuild with its tick

    # ----- the tree ----------------------------------------------------------------------------

    def compact_height(self, rows: int = 5) -> int:
        """The panel's height showing `rows` runs: what the dock starts at, leaving the plots room."""
        row = self._view.sizeHintForRow(0) if self._model.rowCount() else 0
        row = max(row, self._view.fontMetrics().height() + 6)
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

    def _apply_layout(self, force: bool = False) -> None:
        """Rebuild the tree when runs came or went or moved in it; else update the rows in place."""
        order = runs.tree(list(self._infos.values()))
        key = tuple((depth, info.path) for depth, info in order)
        # Resolved once here, not each time a row is filled (show_live fills the current run's row
        # on every stats batch).
        self._current_listed = (
            next((p for p in self._infos if p.resolve() == self._current), None)
            if self._current is not None
            else None
        )
        self._ticked = [p for p in self._ticked if p in self._infos]
        if force or key != self._layout_key:
            self._rebuild(order)
            self._layout_key = key
        else:
            changed: set[int] = set()
            for _, info in order:
                changed |= self._fill_row(self._row_items(info.path), info)
            # A text that grew (a metric that appeared, a longer duration) widens its column, never
            # narrows it: the user's widths stand, and nothing is elided.
            for c in sorted(changed - {len(HEADERS) - 1}):
                wanted = self._view.sizeHintForColumn(c)
                if wanted > self._view.columnWidth(c):
                    self._view.setColumnWidth(c, wanted)
        self._update_buttons()
        self._tell_ticked()

    def _tell_ticked(self) -> None:
        if self.ticked() != self._told:
            self._told = self.ticked()
            self.ticked_changed.emit(self._told)

    def _rebuild(self, order: list[tuple[int, RunInfo]]) -> None:
        selected = self.selected()
        self._filling = True
        try:
            self._model.removeRows(0, self._model.rowCount())
            parents: list[QStandardItem] = []
            for depth, info in order:
                row = [QStandardItem() for _ in HEADERS]
                for item in row:
                    item.setEditable(False)
                    item.setData(str(info.path), PATH_ROLE)
                row[0].setCheckable(info.is_run)
                self._fill_row(row, info)
                del parents[depth:]
                (parents[-1] if parents else self._model.invisibleRootItem()).appendRow(row)
                parents.append(row[0])
        finally:
            self._filling = False
        self._view.expandAll()
        for c in range(len(HEADERS) - 1):
            self._view.resizeColumnToContents(c)
        # A running run's "step / total" grows between rebuilds: room for it at its end.
        ends = [f"{info.total:,} / {info.total:,}" for _, info in order if info.total]
        if ends:
            font = self._view.font()
            font.setBold(True)
            fits = QFontMetrics(font).horizontalAdvance(max(ends, key=len)) + 16
            col = HEADERS.index("Steps")
            self._view.setColumnWidth(col, max(self._view.columnWidth(col), fits))
        if selected is not None:
            self.select(selected)

    def _is_current(self, info: RunInfo) -> bool:
        return self._current_listed is not None and info.path == self._current_listed

    def _fill_row(self, row: list[QStandardItem], info: RunInfo) -> set[int]:
        """Set the row's texts; returns the columns whose text changed."""
        bold = self._is_current(info)
        if bold and self._live is not None and self._live[0] >= info.step and info.is_run:
            step, status, duration = self._live
            info = dataclasses.replace(info, step=step, status=status, duration=max(duration, info.duration))
        texts = runs.row(info)
        values = [
            info.name,
            texts["folder"],
            info.dataset,
            info.arch,
            info.loss,
            texts["steps"],
            texts["status"],
            texts["started"],
            texts["duration"],
            texts["metric"],
            info.problem or info.note,
        ]
        sort = [
            info.name.lower(),
            texts["folder"],
            info.dataset,
            info.arch,
            info.loss,
            info.step,
            texts["status"],
            info.created or 0.0,
            info.duration,
            info.metric[1] if info.metric else float("-inf"),
            info.problem or info.note,
        ]
        tip = (
            str(info.path)
            + (f"\n{info.problem}" if info.problem else "")
            + (f"\nNote: {info.note}" if info.note else "")
        )
        changed = set()
        for c, (item, text, key) in enumerate(zip(row, values, sort, strict=True)):
            if item.text() != text:
                item.setText(text)
                changed.add(c)
            item.setData(key, SORT_ROLE)
            item.setToolTip(tip)
            font = item.font()
            if font.bold() != bold:
                font.setBold(bold)
                item.setFont(font)
        for c in (HEADERS.index("Status"), len(HEADERS) - 1):
            row[c].setForeground(QBrush(QColor(PROBLEM_COLOR)) if info.problem else QBrush())
        if row[0].isCheckable():
            state = Qt.CheckState.Checked if info.path in self._ticked else Qt.CheckState.Unchecked
            if row[0].checkState() != state:
                filling, self._filling = self._filling, True
                try:
                    row[0].setCheckState(state)
                finally:
                    self._filling = filling
        return changed

    def _row_items(self, path: Path) -> list[QStandardItem]:
        name = self._name_item(path)
        parent = name.parent() or self._model.invisibleRootItem()
        return [parent.child(name.row(), c) for c in range(len(HEADERS))]

    def _name_item(self, path: Path) -> QStandardItem | None:
        stack = [self._model.invisibleRootItem()]
        while stack:
            node = stack.pop()
            for r in range(node.rowCount()):
                child = node.child(r, 0)
                if child.data(PATH_ROLE) == str(path):
                    return child
                stack.append(child)
        return None

    def rows(self) -> list[dict[str, str]]:
        """What the tree shows, in its order (with sorting and the filter), for tests: a dict per
        row of the headers' texts, plus "depth" and "checked"."""
        out = []

        def walk(parent, depth: int) -> None:
            for r in range(self._proxy.rowCount(parent)):
                index = self._proxy.index(r, 0, parent)
                row = {h: self._proxy.index(r, c, parent).data() or "" for c, h in enumerate(HEADERS)}
                row["depth"] = depth
                row["checked"] = (
                    self._proxy.data(index, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked.value
                )
                row["path"] = self._proxy.data(index, PATH_ROLE)
                out.append(row)
                walk(index, depth + 1)

        from PySide6.QtCore import QModelIndex

        walk(QModelIndex(), 0)
        return out

    # ----- selection and actions ---------------------------------------------------------------

    def selected(self) -> Path | None:
        index = self._view.currentIndex()
        path = index.data(PATH_ROLE) if index.isValid() else None
        return Path(path) if path else None

    def select(self, path: str | Path) -> None:
        item = self._name_item(Path(path))
        if item is not None:
            self._view.setCurrentIndex(self._proxy.mapFromSource(item.index()))

    def trash_button(self) -> QPushButton:
        return self._trash

    def _update_buttons(self) -> None:
        info = self._infos.get(self.selected()) if self.selected() is not None else None
        for b in (self._rename, self._note):
            b.setEnabled(info is not None and info.is_run)
        self._untick.setEnabled(bool(self._ticked))
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

    @Slot(str)
    def _on_filter_text_changed(self, text: str) -> None:
        self._proxy.setFilterFixedString(text)
        self._view.expandAll()

    @Slot(QStandardItem)
    def _on_model_item_changed(self, item: QStandardItem) -> None:
        if self._filling or item.column() != 0 or not item.isCheckable():
            return
        path = Path(item.data(PATH_ROLE))
        on = item.checkState() == Qt.CheckState.Checked
        if on and path not in self._ticked:
            self._ticked.append(path)
        elif not on and path in self._ticked:
            self._ticked.remove(path)
        if self._untick_note:  # the user ticks by hand now: the note about earlier ticks is done
            self._untick_note = ""
            self._show_notice()
        self._update_buttons()
        self._tell_ticked()

    def _on_view_current_changed(self, *_args) -> None:
        self._update_buttons()

    def _on_view_double_clicked(self, index) -> None:
        path = index.data(PATH_ROLE)
        info = self._infos.get(Path(path)) if path else None
        if info is not None and info.openable:
            self.open_requested.emit(str(info.path))

    def _on_view_context_menu(self, pos) -> None:
        index = self._view.indexAt(pos)
        path = index.data(PATH_ROLE) if index.isValid() else None
        info = self._infos.get(Path(path)) if path else None
        if info is None:
            return
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
        menu.addAction("Untick All", self.untick_all).setEnabled(bool(self._ticked))
        menu.addSeparator()
        menu.addAction("Rename…", lambda: self.rename(info.path)).setEnabled(info.is_run)
        menu.addAction("Note…", lambda: self.edit_note(info.path)).setEnabled(info.is_run)
        trash: QAction = menu.addAction("Move to Trash…", lambda: self.trash(info.path))
        why = info.why_not_trash()
        trash.setEnabled(not why)
        trash.setToolTip(why)
        menu.popup(self._view.viewport().mapToGlobal(pos))

    @Slot()
    def _on_add_clicked(self) -> None:
        start = str(self._default_root or Path.cwd())
        path = QFileDialog.getExistingDirectory(self, "Add a Folder of Runs", start)
        if path:
            self.add_root(path)
