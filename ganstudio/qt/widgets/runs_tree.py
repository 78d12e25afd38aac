"""The Runs dock's tree: a row per listed folder (ganstudio.core.run.listing's RunInfo), forks under
their parents, sortable by each column's value rather than its text and filterable by any text.

It shows what it is given (the order, which run is current, which are ticked) and says when the user
ticks or unticks a run (`tick_changed`); what the ticks mean is the panel's business. It changes only
the rows that changed, and makes a long list's rows a few at a time, between which the GUI thread
draws and answers the user (a few hundred rows made at once held it for ~50-150 ms).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, QSortFilterProxyModel, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QWidget

from ganstudio.core.run import groups, listing
from ganstudio.core.run.groups import RunGroup
from ganstudio.core.run.listing import RunInfo

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
    "vs Baseline",  # the latest main metric minus the baseline run's (shown while one is set)
    "Note",
)
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
GROUP_ROLE = Qt.ItemDataRole.UserRole + 3  # a group row's key (core.run.groups.RunGroup.key)
PROBLEM_COLOR = "#c2410c"
#: A long list's rows are made across turns of the event loop: each turn makes rows for CHUNK_S
#: (wall time; the GUI's goal is to be held at most 50 ms), and at least CHUNK_ROWS of them (a short
#: list is whole when show_rows returns).
CHUNK_S = 0.008
CHUNK_ROWS = 16
_NOWHERE = object()  # the parent of a row that is not listed


def cells(info: RunInfo, baseline: RunInfo | None = None) -> tuple[list[str], list, str]:
    """A run's row: the texts under HEADERS, the values its columns sort by, and its tooltip."""
    texts = listing.row(info)
    delta = groups.metric_delta(info, baseline)
    shown = [
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
        groups.metric_delta_text(info, baseline),
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
        delta if delta is not None else float("-inf"),
        info.problem or info.note,
    ]
    tip = (
        str(info.path)
        + where_text(info)
        + (f"\n{info.problem}" if info.problem else "")
        + (f"\nNote: {info.note}" if info.note else "")
    )
    return shown, sort, tip


def where_text(info: RunInfo) -> str:
    """The tooltip's lines on where a run trains: its host(s), and its device (each process's)."""
    hosts = list(dict.fromkeys(h for h in info.hosts if h))
    text = f"\nHost{'s' if len(hosts) > 1 else ''}: {', '.join(hosts)}" if hosts else ""
    if len(info.devices) == 1 and info.devices[0]:
        text += f"\nDevice: {info.devices[0]}"
    elif len(info.devices) > 1:
        text += "\nDevices: " + "; ".join(f"rank {r} {d}" for r, d in enumerate(info.devices))
    return text


def group_cells(group: RunGroup) -> tuple[list[str], list, str]:
    """A group's row: how many runs, what they share, their metric's mean ± std, what varies."""
    texts = groups.group_row(group)
    metric = group.metric()
    first = group.runs[0]
    shown = [f"{group.name} ({len(group.runs)} runs)", texts["folder"], first.dataset, first.arch, first.loss]
    shown += [texts["steps"], texts["status"], texts["started"], texts["duration"], texts["metric"], ""]
    shown.append(texts["note"])
    sort = [group.name.lower(), texts["folder"], first.dataset, first.arch, first.loss]
    sort += [max(r.step for r in group.runs), texts["status"], first.created or 0.0]
    sort += [
        max(r.duration for r in group.runs),
        sum(metric[1]) / len(metric[1]) if metric else float("-inf"),
    ]
    sort += [float("-inf"), texts["note"]]
    tip = (
        f"{len(group.runs)} runs of one config but for {', '.join(group.ignored)}: ticked, the plots "
        "draw their mean and its band\n" + "\n".join(str(r.path) for r in group.runs)
    )
    return shown, sort, tip


def ident(item: RunInfo | RunGroup) -> Path | str:
    """What a row stands for: a run's folder, or a group's key."""
    return item.key if isinstance(item, RunGroup) else item.path


class RunsTree(QTreeView):
    tick_changed = Signal(object, bool)  # (Path or a group's key, on): the user ticked or unticked it
    built = Signal()  # the rows are what the last show_rows asked for

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, objectName="runs_tree")
        # Set while the rows are (re)filled: their check states change then, not the user's ticks.
        # (Blocking the model's signals instead left the sort proxy and the view holding rows the
        # model had removed, and the next look at the current row crashed.)
        self._filling = False
        self._baseline: RunInfo | None = None
        # Each row's first cell, its parent row's key (None: the top) and what it was filled from,
        # by its key (ident): rows are found, moved and refilled without walking the model.
        self._items: dict[Path | str, QStandardItem] = {}
        self._under: dict[Path | str, Path | str | None] = {}
        self._filled: dict[Path | str, tuple] = {}
        self._ticked: set = set()  # what the rows show ticked (show_rows', then the user's ticks)
        self._current: Path | None = None
        self._build: Iterator[None] | None = None  # the rows being made (show_rows)
        self._reselect: Path | None = None  # the row selected when a build began
        self.chunk_s, self.chunk_rows = CHUNK_S, CHUNK_ROWS  # tests make every row a turn
        self._turn = QTimer(self, objectName="runs_tree_build", singleShot=True, interval=0)
        self._turn.timeout.connect(self._on_turn_timeout)
        self._model = QStandardItemModel(0, len(HEADERS), self)
        self._model.setHorizontalHeaderLabels(list(HEADERS))
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(self._model)
        self._proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._proxy.setFilterKeyColumn(-1)
        self._proxy.setRecursiveFilteringEnabled(True)
        self._proxy.setSortRole(SORT_ROLE)
        self.setModel(self._proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(HEADERS.index("Started"), Qt.SortOrder.AscendingOrder)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        # Every row is one line of one font: the view lays out the rows without asking each its
        # height (a layout of 200 rows follows each turn of a long list's build).
        self.setUniformRowHeights(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # Sized to the contents once, when mostly new rows came (the first listing), then widened for
        # a text that grew: not on every cell change (ResizeToContents measured all 200 rows of a big
        # folder on each update, on the GUI thread).
        self.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.header().setStretchLastSection(True)
        self._model.itemChanged.connect(self._on_model_item_changed)
        self.setColumnHidden(HEADERS.index("vs Baseline"), True)

    def set_baseline(self, info: RunInfo | None) -> None:
        """The run the "vs Baseline" column compares with (the column shows only while one is set);
        the rows take it at the next show_rows."""
        self._baseline = info
        self.setColumnHidden(HEADERS.index("vs Baseline"), info is None)

    def set_filter(self, text: str) -> None:
        self._proxy.setFilterFixedString(text)
        self.expandAll()

    @property
    def building(self) -> bool:
        """Whether rows are still being made (a long list is made across turns of the event loop)."""
        return self._build is not None

    def show_rows(
        self, order: list[tuple[int, RunInfo | RunGroup]], current: Path | None, ticked: Collection
    ) -> None:
        """Make the tree's rows `order` ((depth, run or group), as groups.layout orders them), the
        row of `current` in bold and `ticked` (runs' folders, groups' keys) ticked. Rows that came
        are made, rows that went or moved to another parent row are removed (and made again where
        they belong), and a row is refilled only when what it shows changed: a scan that changed
        one run refills one row, one that changed nothing none.

        The rows are made across turns of the event loop, CHUNK_S of them at a time, the view usable
        in between (`building`; `built` when done); a newer call supersedes a build in flight and
        goes on from the rows made so far. The selection and the ticks are kept, the user's ticks
        made during a build included."""
        selected = self.selected()
        if selected is not None or self._build is None:
            self._reselect = selected
        self._ticked = set(ticked)
        self._turn.stop()
        self._build = self._steps(order, current)
        self._go_on()

    def refresh_row(self, info: RunInfo, current: Path | None) -> None:
        """Update the row of `info`, if the tree has one. A cell whose text grew past its column
        (a live run's steps, first shown before its total was known) widens the column: measured
        for that one cell, not the column's every row, as this runs on every batch of stats."""
        if info.path not in self._items:
            return
        row = self._row_items(info.path)
        changed = self._refill(row, info, current)
        self._widen({c: self._cell_width(row[c]) for c in changed - {0}})

    @Slot()
    def _on_turn_timeout(self) -> None:
        self._go_on()

    def _go_on(self) -> None:
        """Take the build's steps for CHUNK_S (at least CHUNK_ROWS of them), then come back on the
        next turn of the event loop."""
        build = self._build
        if build is None:
            return
        start, steps = time.perf_counter(), 0
        for _ in build:
            if self._build is not build:  # superseded from inside a step
                return
            steps += 1
            if steps >= self.chunk_rows and time.perf_counter() - start >= self.chunk_s:
                self._turn.start()
                return
        if self._build is build:
            self._build = None
            self.built.emit()

    def _steps(self, order: list[tuple[int, RunInfo | RunGroup]], current: Path | None) -> Iterator[None]:
        """The build, a row a step: see show_rows."""
        self._current = current
        rows, selected = _parents(order), self.selected()
        if selected in self._remove({key: parent for key, _, parent in rows}):
            self.selectionModel().clear()  # not the row Qt moved it to: its own, once it is made again
        made, touched = 0, []
        places: dict[Path | str | None, int] = {}
        for key, info, parent in rows:
            place = places[parent] = places.get(parent, -1) + 1
            new, changed, row = self._place(key, info, parent, place)
            made += new
            if changed:
                touched.append((row, changed))
            yield
        if self._reselect is not None and self.selected() is None:
            self.select(self._reselect)
        if made > len(rows) // 2:  # mostly new rows (the first listing): sized to them, a column a step
            for c in range(len(HEADERS) - 1):
                self.resizeColumnToContents(c)
                yield
        else:
            self._widen(self._widths(touched))
        self._make_room_for_totals([info for _, info, _ in rows])

    def _place(
        self, key: Path | str, info: RunInfo | RunGroup, parent: Path | str | None, place: int
    ) -> tuple[bool, set[int], list[QStandardItem]]:
        """Put the row of `info` at `place` under `parent`'s row (None: the top), made or refilled
        as needed: (whether it was made, the columns whose text changed, its items)."""
        into = self._model.invisibleRootItem() if parent is None else self._items[parent]
        item = self._items.get(key)
        if item is None:
            row = self._new_row(info)
        elif item.row() != place:  # a row before it went: moved up among its siblings
            row = into.takeRow(item.row())
        elif self._filled.get(key) == self._stamp(info, self._current):  # in place, as it is
            self._show_tick(item, key in self._ticked)
            return False, set(), []
        else:
            row = self._row_items(key)
            return False, self._refill(row, info, self._current), row
        # Filled before it is inserted: a cell set in the model re-sorts its row in the proxy.
        changed = self._refill(row, info, self._current)
        into.insertRow(place, row)
        self._items[key], self._under[key] = row[0], parent
        if parent is not None:
            self.expand(self._proxy.mapFromSource(into.index()))
        return item is None, changed, row

    def _remove(self, parents: dict[Path | str, Path | str | None]) -> set[Path | str]:
        """Remove the rows that are not in `parents` (key -> its parent row's key) or are under
        another parent row there, with the rows under them: their keys."""
        gone = {k for k, under in self._under.items() if parents.get(k, _NOWHERE) != under}
        if not gone:
            return gone
        below: dict[Path | str | None, list[Path | str]] = {}
        for k, under in self._under.items():
            below.setdefault(under, []).append(k)
        stack = list(gone)
        while stack:
            gone.update(more := [k for k in below.get(stack.pop(), []) if k not in gone])
            stack += more
        if len(gone) == len(self._under):
            self._model.removeRows(0, self._model.rowCount())
        else:
            for k in gone:
                under = self._under[k]
                if under not in gone:
                    into = self._model.invisibleRootItem() if under is None else self._items[under]
                    into.removeRow(self._items[k].row())
        for k in gone:
            del self._items[k], self._under[k]
            self._filled.pop(k, None)
        return gone

    def _new_row(self, info: RunInfo | RunGroup) -> list[QStandardItem]:
        group = isinstance(info, RunGroup)
        row = [QStandardItem() for _ in HEADERS]
        for item in row:
            item.setEditable(False)
            item.setData(info.key if group else str(info.path), GROUP_ROLE if group else PATH_ROLE)
        return row

    def _refill(self, row: list[QStandardItem], info: RunInfo | RunGroup, current: Path | None) -> set[int]:
        """Fill the row unless it shows this already: the columns whose text changed."""
        key, stamp = ident(info), self._stamp(info, current)
        if self._filled.get(key) == stamp:
            self._show_tick(row[0], key in self._ticked)
            return set()
        self._filled[key] = stamp
        return self._fill_row(row, info, current, self._ticked)

    def _stamp(self, info: RunInfo | RunGroup, current: Path | None) -> tuple:
        """What a row shows: equal stamps, equal rows (RunInfos compare field by field, at once when
        they are the same object, as a scanner's are for an unchanged run)."""
        bold = current is not None and not isinstance(info, RunGroup) and info.path == current
        return (info, bold, self._baseline)

    def _show_tick(self, item: QStandardItem, on: bool) -> None:
        state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        if item.isCheckable() and item.checkState() != state:
            filling, self._filling = self._filling, True
            try:
                item.setCheckState(state)
            finally:
                self._filling = filling

    def _widths(self, touched: list[tuple[list[QStandardItem], set[int]]]) -> dict[int, int]:
        """The widths the changed cells of some rows want (the first column's with its rows'
        indentation: measured by the view)."""
        widths: dict[int, int] = {}
        for row, changed in touched:
            for c in changed - {0}:
                widths[c] = max(widths.get(c, 0), self._cell_width(row[c]))
        if any(0 in changed for _, changed in touched):
            widths[0] = self.sizeHintForColumn(0)
        return widths

    def _cell_width(self, item: QStandardItem) -> int:
        return QFontMetrics(item.font()).horizontalAdvance(item.text()) + 16

    def _widen(self, widths: dict[int, int]) -> None:
        """A text that grew (a metric that appeared, a longer duration, a new run) widens its
        column, never narrows it: the user's widths stand, and nothing is elided."""
        for c, wanted in widths.items():
            if c != len(HEADERS) - 1 and wanted > self.columnWidth(c):
                self.setColumnWidth(c, wanted)

    def _make_room_for_totals(self, infos: list[RunInfo | RunGroup]) -> None:
        """A running run's "step / total" grows between scans: room for it at its end."""
        ends = [f"{info.total:,} / {info.total:,}" for info in infos if getattr(info, "total", 0)]
        if ends:
            font = self.font()
            font.setBold(True)
            fits = QFontMetrics(font).horizontalAdvance(max(ends, key=len)) + 16
            col = HEADERS.index("Steps")
            self.setColumnWidth(col, max(self.columnWidth(col), fits))

    def set_checked(self, path: Path | str, on: bool) -> None:
        """Tick or untick a run (or a group, by its key) as the user would (tick_changed follows)."""
        item = self._name_item(path)
        if item is not None:
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    @staticmethod
    def path_of(index: QModelIndex) -> Path | None:
        """The run folder of the row at `index` (None for no row)."""
        path = index.data(PATH_ROLE) if index.isValid() else None
        return Path(path) if path else None

    def path_at(self, pos: QPoint) -> Path | None:
        return self.path_of(self.indexAt(pos))

    def selected(self) -> Path | None:
        return self.path_of(self.currentIndex())

    def select(self, path: str | Path) -> None:
        item = self._name_item(Path(path))
        if item is not None:
            self.setCurrentIndex(self._proxy.mapFromSource(item.index()))

    def row_height(self) -> int:
        row = self.sizeHintForRow(0) if self._model.rowCount() else 0
        return max(row, self.fontMetrics().height() + 6)

    def rows(self) -> list[dict[str, str]]:
        """What the tree shows, in its order (with sorting and the filter), for tests: a dict per
        row of the headers' texts, plus "depth", "checked" and "path"."""
        out = []

        def walk(parent, depth: int) -> None:
            for r in range(self._proxy.rowCount(parent)):
                index = self._proxy.index(r, 0, parent)
                row = {h: self._proxy.index(r, c, parent).data() or "" for c, h in enumerate(HEADERS)}
                row["depth"] = depth
                row["checked"] = (
                    self._proxy.data(index, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked.value
                )
                row["path"] = self._proxy.data(index, PATH_ROLE) or ""  # "" for a group's row
                row["group"] = self._proxy.data(index, GROUP_ROLE)
                out.append(row)
                walk(index, depth + 1)

        walk(QModelIndex(), 0)
        return out

    def _fill_row(
        self, row: list[QStandardItem], info: RunInfo | RunGroup, current: Path | None, ticked: Collection
    ) -> set[int]:
        """Set the row's texts, tick and colours; returns the columns whose text or font changed. The
        model's itemChanged meanwhile is not the user's ticking."""
        filling, self._filling = self._filling, True
        try:
            return self._set_cells(row, info, current, ticked)
        finally:
            self._filling = filling

    def _set_cells(
        self, row: list[QStandardItem], info: RunInfo | RunGroup, current: Path | None, ticked: Collection
    ) -> set[int]:
        group = isinstance(info, RunGroup)
        bold = current is not None and not group and info.path == current
        shown, sort, tip = group_cells(info) if group else cells(info, self._baseline)
        changed = set()
        # Only what differs is set (Qt ignores an equal value anyway, but each call from Python gives
        # up the GIL and must take it back from the other threads): the current run's row is refilled
        # on every stats batch (show_live), and its 36 sets took ~6% of the GUI thread's time then.
        for c, (item, text, key) in enumerate(zip(row, shown, sort, strict=True)):
            if item.text() != text:
                item.setText(text)
                changed.add(c)
            if item.data(SORT_ROLE) != key:
                item.setData(key, SORT_ROLE)
            if item.toolTip() != tip:
                item.setToolTip(tip)
            font = item.font()
            if font.bold() != bold:  # the current run's row: wider in bold
                font.setBold(bold)
                item.setFont(font)
                changed.add(c)
        if not group and row[0].isCheckable() != info.is_run:  # a folder that became a run, or not
            row[0].setCheckable(info.is_run)
        elif group and not row[0].isCheckable():
            row[0].setCheckable(True)
        brush = QBrush(QColor(PROBLEM_COLOR)) if not group and info.problem else QBrush()
        for c in (HEADERS.index("Status"), len(HEADERS) - 1):
            if row[c].foreground() != brush:
                row[c].setForeground(brush)
        self._show_tick(row[0], ident(info) in ticked)
        return changed

    def _row_items(self, key: Path | str) -> list[QStandardItem]:
        name = self._items[key]
        parent = name.parent() or self._model.invisibleRootItem()
        return [parent.child(name.row(), c) for c in range(len(HEADERS))]

    def _name_item(self, key: Path | str) -> QStandardItem | None:
        """The first cell of the row of a run's folder, or of a group's key (a str)."""
        return self._items.get(key if isinstance(key, str) else Path(key))

    @Slot(QStandardItem)
    def _on_model_item_changed(self, item: QStandardItem) -> None:
        if self._filling or item.column() != 0 or not item.isCheckable():
            return
        group = item.data(GROUP_ROLE)
        what = group if group else Path(item.data(PATH_ROLE))
        on = item.checkState() == Qt.CheckState.Checked
        # The rows a build has still to fill keep the user's tick.
        (self._ticked.add if on else self._ticked.discard)(what)
        self.tick_changed.emit(what, on)


def _parents(order: list[tuple[int, RunInfo | RunGroup]]) -> list[tuple[Path | str, RunInfo | RunGroup, Any]]:
    """(key, run or group, its parent row's key or None) for each row of `order`, once each."""
    out, seen = [], set()
    above: list[Path | str] = []  # the keys of the rows above, by depth
    for depth, info in order:
        key = ident(info)
        if key in seen:
            continue
        seen.add(key)
        del above[depth:]
        out.append((key, info, above[-1] if above else None))
        above.append(key)
    return out
