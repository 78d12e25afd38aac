"""The Runs dock's tree made across turns of the event loop (RunsTree.show_rows): every row once
under its parent, a newer list superseding a build in flight, the selection and the ticks kept
(the user's ticks during a build included), and a scan that changed nothing or one run refilling
no row or one. Runs are made up (RunInfo values): no training, no folders."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QTreeView

from ganstudio.core.run import groups
from ganstudio.core.run.listing import RunInfo
from ganstudio.qt.panels.runs import RunsPanel
from ganstudio.qt.widgets.runs_tree import HEADERS, RunsTree
from tests.qt.conftest import WAIT_MS

ROOT = Path("/made-up/runs")
FORKS = {5: 2, 7: 5, 30: 1}  # run: its parent run (7 is a fork of a fork)


def _path(i: int) -> Path:
    return ROOT / f"run{i:03d}"


def _run(i: int, parent: int | None = None, seed: int | None = None, **values) -> RunInfo:
    return RunInfo(
        path=_path(i),
        name=f"run{i}",
        dataset="digits",
        arch="mlp",
        loss="hinge",
        step=10,
        total=10,
        status="finished",
        created=1_000.0 + i,
        duration=5.0,
        parent=None if parent is None else {"run": str(_path(parent)), "step": 5},
        config=None if seed is None else {"train": {"seed": seed}, "optim": {"lr_g": 0.0002}},
        **values,
    )


def _runs(ids, forks=FORKS) -> list[RunInfo]:
    return [_run(i, forks.get(i)) for i in ids]


def _order(runs: list[RunInfo], group_by=None) -> list:
    return groups.layout(runs, group_by)[0]


def _expected(order) -> list[tuple[int, str]]:
    return sorted((depth, str(groups_ident(info))) for depth, info in order)


def groups_ident(info) -> object:
    return info.key if isinstance(info, groups.RunGroup) else info.path


def _shown(tree: RunsTree) -> list[tuple[int, str]]:
    return sorted((r["depth"], r["path"] or r["group"]) for r in tree.rows())


def _checked(tree: RunsTree) -> set[Path]:
    return {Path(r["path"]) for r in tree.rows() if r["checked"]}


@pytest.fixture
def tree(qtbot) -> RunsTree:
    view = RunsTree()
    qtbot.addWidget(view)
    view.chunk_rows, view.chunk_s = 4, 0.0  # four rows a turn, however fast the machine
    return view


def test_a_long_list_is_made_over_turns_with_every_row_once_under_its_parent(tree, qtbot):
    order = _order(_runs(range(40)))
    with qtbot.waitSignal(tree.built, timeout=WAIT_MS):
        tree.show_rows(order, None, set())
        assert tree.building and len(tree.rows()) == 4  # one turn's rows; the rest come later
    assert not tree.building
    assert _shown(tree) == _expected(order) and len(tree.rows()) == 40
    depth = {Path(r["path"]): r["depth"] for r in tree.rows()}
    assert (depth[_path(2)], depth[_path(5)], depth[_path(7)], depth[_path(30)]) == (0, 1, 2, 1)


def test_a_newer_list_mid_build_supersedes_it_and_leaves_no_stale_rows(tree, qtbot):
    built = []
    tree.built.connect(lambda: built.append(1))
    tree.show_rows(_order(_runs(range(40))), None, set())
    assert tree.building
    # The next scan, before the first list is made: runs 0-9 gone (0-3 shown already), five new,
    # one changed, and run 30 a fork of run 20 now (it was run 1's).
    runs = _runs([*range(10, 40), *range(100, 105)], {**FORKS, 30: 20})
    runs[runs.index(_run(12))] = dataclasses.replace(_run(12), step=4, status="stopped")
    order = _order(runs)
    with qtbot.waitSignal(tree.built, timeout=WAIT_MS):
        tree.show_rows(order, None, set())
    assert _shown(tree) == _expected(order) and len(tree.rows()) == 35
    assert built == [1]  # the superseded build never finished
    row = next(r for r in tree.rows() if Path(r["path"]) == _path(12))
    assert (row["Steps"], row["Status"]) == ("4 / 10", "stopped")
    depth = {Path(r["path"]): r["depth"] for r in tree.rows()}
    assert depth[_path(30)] == 1 and depth[_path(20)] == 0
    # Back to the first list, again mid-build of the second.
    tree.show_rows(order, None, set())
    first = _order(_runs(range(40)))
    with qtbot.waitSignal(tree.built, timeout=WAIT_MS):
        tree.show_rows(first, None, set())
    assert _shown(tree) == _expected(first)


def test_the_selection_and_ticks_survive_a_build_and_ticks_made_during_it_are_kept(tree, qtbot):
    runs = _runs(range(40))
    with qtbot.waitSignal(tree.built, timeout=WAIT_MS):
        tree.show_rows(_order(runs), None, {_path(3), _path(20), _path(30)})
    assert _checked(tree) == {_path(3), _path(20), _path(30)}
    tree.select(_path(20))
    told = []
    tree.tick_changed.connect(lambda path, on: told.append((path, on)))
    # Run 20 becomes a fork of run 3 (its row is made again under run 3's), a new run comes first.
    moved = _runs([-1, *range(40)], {**FORKS, 20: 3})
    with qtbot.waitSignal(tree.built, timeout=WAIT_MS):
        tree.show_rows(_order(moved), None, {_path(3), _path(20), _path(30)})
        assert tree.building
        tree.set_checked(_path(35), True)  # the user ticks a row the build has yet to come to
    assert told == [(_path(35), True)]  # the build's own changes are not the user's ticks
    assert _checked(tree) == {_path(3), _path(20), _path(30), _path(35)}
    assert tree.selected() == _path(20)
    assert next(r for r in tree.rows() if Path(r["path"]) == _path(20))["depth"] == 1


def test_a_scan_that_changed_nothing_refills_no_row_and_a_changed_run_one(qtbot, tmp_path):
    panel = RunsPanel()
    qtbot.addWidget(panel)
    runs = [*_runs(range(40)), *(_run(50 + k, seed=k) for k in range(3))]  # three seeds: a group
    panel._scanner.scan = lambda roots, now=None: list(runs)
    tree = panel.findChild(QTreeView, "runs_tree")
    tree.chunk_rows, tree.chunk_s = 4, 0.0
    filled = []
    fill = tree._fill_row
    tree._fill_row = lambda row, info, *args: filled.append(groups_ident(info)) or fill(row, info, *args)

    def scan() -> None:
        with qtbot.waitSignal(panel.scanned, timeout=WAIT_MS):
            panel.rescan()
        qtbot.waitUntil(lambda: not panel.building, timeout=WAIT_MS)

    with qtbot.waitSignal(panel.scanned, timeout=WAIT_MS):
        panel.set_default_root(tmp_path)
    qtbot.waitUntil(lambda: not panel.building, timeout=WAIT_MS)
    assert len(filled) == 44 and len(panel.rows()) == 44  # 43 runs and their group's row
    filled.clear()
    scan()
    assert filled == []
    runs[12] = dataclasses.replace(runs[12], note="a longer note")
    scan()
    assert filled == [_path(12)]
    assert next(r for r in panel.rows() if Path(r["path"]) == _path(12))["Note"] == "a longer note"
    # The grouping changed while a scan was laid out on its thread (grouped): shown ungrouped.
    with qtbot.waitSignal(panel.scanned, timeout=WAIT_MS):
        panel.rescan()
        panel.set_group_by(None)
    qtbot.waitUntil(lambda: not panel.building, timeout=WAIT_MS)
    assert len(panel.rows()) == 43 and not any(r["group"] for r in panel.rows())
    panel.shutdown()


def test_the_current_runs_row_in_bold_widens_the_columns_it_outgrows(tree, qtbot):
    runs = [dataclasses.replace(_run(1), name="a-rather-long-run-name-" * 3), *_runs(range(2, 10))]
    with qtbot.waitSignal(tree.built, timeout=WAIT_MS):
        tree.show_rows(_order(runs), None, set())
    name, folder = (HEADERS.index(h) for h in ("Name", "Folder"))
    before = tree.columnWidth(name)
    bold = tree.font()
    bold.setBold(True)
    with qtbot.waitSignal(tree.built, timeout=WAIT_MS):
        tree.show_rows(_order(runs), _path(1), set())
    assert tree.columnWidth(name) > before
    assert tree.columnWidth(name) >= QFontMetrics(bold).horizontalAdvance(runs[0].name)
    assert tree.columnWidth(folder) >= QFontMetrics(bold).horizontalAdvance(_path(1).name)
