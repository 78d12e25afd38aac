"""The Runs dock's tree: a row per listed folder (ganstudio.core.run.listing's RunInfo), forks under
their parents, sortable by each column's value rather than its text and filterable by any text.

It shows what it is given (the order, which run is current, which are ticked) and says when the user
ticks or unticks a run (`tick_changed`); what the ticks mean is the panel's business.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, QSortFilterProxyModel, Qt, Signal, Slot
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

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, objectName="runs_tree")
        # Set while the rows are (re)filled: their check states change then, not the user's ticks.
        # (Blocking the model's signals instead left the sort proxy and the view holding rows the
        # model had removed, and the next look at the current row crashed.)
        self._filling = False
        self._baseline: RunInfo | None = None
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
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # Sized to the contents when rows come or go, not on every cell change (ResizeToContents
        # measured all 200 rows of a big folder on each update, on the GUI thread).
        self.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.header().setStretchLastSection(True)
        self._model.itemChanged.connect(self._on_model_item_changed)
        self.setColumnHidden(HEADERS.index("vs Baseline"), True)

    def set_baseline(self, info: RunInfo | None) -> None:
        """The run the "vs Baseline" column compares with (the column shows only while one is set);
        the rows take it at the next rebuild or refresh."""
        self._baseline = info
        self.setColumnHidden(HEADERS.index("vs Baseline"), info is None)

    def set_filter(self, text: str) -> None:
        self._proxy.setFilterFixedString(text)
        self.expandAll()

    def rebuild(
        self, order: list[tuple[int, RunInfo | RunGroup]], current: Path | None, ticked: Collection
    ) -> None:
        """Make the rows `order` ((depth, info) from listing.tree, or groups.grouped_tree's with
        group rows), keeping the selection. `ticked`: the ticked runs' folders and groups' keys."""
        selected = self.selected()
        self._filling = True
        try:
            self._model.removeRows(0, self._model.rowCount())
            parents: list[QStandardItem] = []
            for depth, info in order:
                row = [QStandardItem() for _ in HEADERS]
                group = isinstance(info, RunGroup)
                for item in row:
                    item.setEditable(False)
                    item.setData(info.key if group else str(info.path), GROUP_ROLE if group else PATH_ROLE)
                row[0].setCheckable(group or info.is_run)
                self._fill_row(row, info, current, ticked)
                del parents[depth:]
                (parents[-1] if parents else self._model.invisibleRootItem()).appendRow(row)
                parents.append(row[0])
        finally:
            self._filling = False
        self.expandAll()
        for c in range(len(HEADERS) - 1):
            self.resizeColumnToContents(c)
        # A running run's "step / total" grows between rebuilds: room for it at its end.
        ends = [f"{info.total:,} / {info.total:,}" for _, info in order if getattr(info, "total", 0)]
        if ends:
            font = self.font()
            font.setBold(True)
            fits = QFontMetrics(font).horizontalAdvance(max(ends, key=len)) + 16
            col = HEADERS.index("Steps")
            self.setColumnWidth(col, max(self.columnWidth(col), fits))
        if selected is not None:
            self.select(selected)

    def refresh(self, infos: list[RunInfo | RunGroup], current: Path | None, ticked: Collection) -> None:
        """Update the rows of `infos` (runs and groups, all in the tree already) in place."""
        changed: set[int] = set()
        for info in infos:
            changed |= self._fill_row(self._row_items(ident(info)), info, current, ticked)
        # A text that grew (a metric that appeared, a longer duration) widens its column, never
        # narrows it: the user's widths stand, and nothing is elided.
        for c in sorted(changed - {len(HEADERS) - 1}):
            wanted = self.sizeHintForColumn(c)
            if wanted > self.columnWidth(c):
                self.setColumnWidth(c, wanted)

    def refresh_row(self, info: RunInfo, current: Path | None, ticked: Collection[Path]) -> None:
        """Update the row of `info`, if the tree has one. A cell whose text grew past its column
        (a live run's steps, first shown before its total was known) widens the column: measured
        for that one cell, not the column's every row, as this runs on every batch of stats."""
        if self._name_item(info.path) is None:
            return
        row = self._row_items(info.path)
        for c in sorted(self._fill_row(row, info, current, ticked) - {len(HEADERS) - 1, 0}):
            item = row[c]
            wanted = QFontMetrics(item.font()).horizontalAdvance(item.text()) + 16
            if wanted > self.columnWidth(c):
                self.setColumnWidth(c, wanted)

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
        """Set the row's texts; returns the columns whose text changed."""
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
            if font.bold() != bold:
                font.setBold(bold)
                item.setFont(font)
        brush = QBrush(QColor(PROBLEM_COLOR)) if not group and info.problem else QBrush()
        for c in (HEADERS.index("Status"), len(HEADERS) - 1):
            if row[c].foreground() != brush:
                row[c].setForeground(brush)
        if row[0].isCheckable():
            state = Qt.CheckState.Checked if ident(info) in ticked else Qt.CheckState.Unchecked
            if row[0].checkState() != state:
                filling, self._filling = self._filling, True
                try:
                    row[0].setCheckState(state)
                finally:
                    self._filling = filling
        return changed

    def _row_items(self, path: Path | str) -> list[QStandardItem]:
        name = self._name_item(path)
        parent = name.parent() or self._model.invisibleRootItem()
        return [parent.child(name.row(), c) for c in range(len(HEADERS))]

    def _name_item(self, path: Path | str) -> QStandardItem | None:
        """The first cell of the row of a run's folder, or of a group's key (a str)."""
        role, key = (GROUP_ROLE, path) if isinstance(path, str) else (PATH_ROLE, str(path))
        stack = [self._model.invisibleRootItem()]
        while stack:
            node = stack.pop()
            for r in range(node.rowCount()):
                child = node.child(r, 0)
                if child.data(role) == key:
                    return child
                stack.append(child)
        return None

    @Slot(QStandardItem)
    def _on_model_item_changed(self, item: QStandardItem) -> None:
        if self._filling or item.column() != 0 or not item.isCheckable():
            return
        group = item.data(GROUP_ROLE)
        what = group if group else Path(item.data(PATH_ROLE))
        self.tick_changed.emit(what, item.checkState() == Qt.CheckState.Checked)
