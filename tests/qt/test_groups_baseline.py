"""Seed groups and the baseline run, through the real window: three runs of one config (seeds 1, 2,
3) are one expandable row in the Runs dock; ticked, the plots draw one mean line with a band
(switched in the plot's context menu); a run set as the baseline from the dock's context menu
gets the "vs Baseline" column, and a plot's "Deltas Against Baseline" draws the others minus it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QSlider, QTreeView

from ganstudio.core.run import groups
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_run
from ganstudio.qt.widgets.plot_overlay import GroupOverlay
from ganstudio.qt.widgets.runs_tree import HEADERS
from tests.core.test_groups import SEEDS, train
from tests.qt.conftest import WAIT_MS

TAB = "Losses"


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seed-groups") / "runs"
    for seed in SEEDS:
        train(out, seed)
    return out


@pytest.fixture
def seeds_window(make_window, seeds_dir, qtbot):
    window = make_window(log__out=str(seeds_dir))
    qtbot.waitUntil(lambda: len(window.runs.rows()) == 4, timeout=WAIT_MS)  # the group and its runs
    window.plots.findChild(QSlider, "plots_smoothing").setValue(0)  # raw values: exact comparisons
    window.plots.show_tab(TAB)
    return window


def _history(path) -> object:
    return read_run(RunFolder(Path(path))).history


def _menu_action(menu, text: str):
    for action in menu.actions():
        if action.text() == text:
            return action
        if action.menu() is not None:
            found = _menu_action(action.menu(), text)
            if found is not None:
                return found
    return None


def _plot_action(window, text: str):
    return _menu_action(window.plots.plot_widget(TAB).getPlotItem().getViewBox().menu, text)


def _drawn(window, overlay) -> dict:
    window.plots.redraw()
    return {c.key: c for c in window.plots.overlay_curves(TAB, overlay)}


def test_three_seeds_are_one_row_and_ticked_draw_one_mean_line_with_a_band(seeds_window, seeds_dir, qtbot):
    window = seeds_window
    rows = window.runs.rows()
    (group,) = [r for r in rows if r["group"]]
    assert group["depth"] == 0 and group["Name"].endswith("(3 runs)") and group["Folder"] == "3 runs"
    assert group["Note"] == "train.seed 1, 2, 3" and " ± " in group["Metric"]
    members = [r for r in rows if r["depth"] == 1]
    assert len(members) == 3 and all(r["path"] for r in members)

    tree = window.runs.findChild(QTreeView, "runs_tree")
    tree.set_checked(group["group"], True)  # the group row's check box
    qtbot.waitUntil(lambda: len(window.plots.overlays()) == 1, timeout=WAIT_MS)
    (overlay,) = window.plots.overlays()
    assert isinstance(overlay, GroupOverlay) and overlay.name.endswith("(mean of 3)")
    histories = [_history(r["path"]) for r in members]
    expected = groups.group_band(histories, groups.MINMAX)
    qtbot.waitUntil(lambda: len(_drawn(window, overlay)) == 2, timeout=WAIT_MS)
    drawn = _drawn(window, overlay)
    assert set(drawn) == {"loss_d", "loss_g"}  # one line per series, not one per run
    assert len({c.run for c in window.plots.compare_layer(TAB).curves}) == 1
    loss = drawn["loss_d"]
    np.testing.assert_allclose(loss.x, [2, 4, 6])
    np.testing.assert_allclose(loss.y, expected.mean.series("loss_d"))
    x, lo, hi = loss.band
    np.testing.assert_allclose(lo, expected.lo.series("loss_d"))
    np.testing.assert_allclose(hi, expected.hi.series("loss_d"))
    assert (hi > lo).any()

    # The plot's context menu switches the band to mean ± std.
    _plot_action(window, "Mean ± Std").trigger()
    std = groups.group_band(histories, groups.STD)
    _, lo, hi = _drawn(window, overlay)["loss_d"].band
    np.testing.assert_allclose(hi, std.hi.series("loss_d"))
    np.testing.assert_allclose(lo, std.lo.series("loss_d"))

    tree.set_checked(group["group"], False)
    qtbot.waitUntil(lambda: window.plots.overlays() == [], timeout=WAIT_MS)


def test_ungrouped_the_runs_are_rows_of_their_own(seeds_window, qtbot):
    window = seeds_window
    asked = []
    window.runs.ask_text = lambda *args: asked.append(args) or "optim.lr_g"
    window.runs.findChild(object, "runs_grouping").pick.trigger()
    assert asked and window.runs.group_by() == ("optim.lr_g",)
    assert len(window.runs.rows()) == 3 and not any(r["group"] for r in window.runs.rows())
    errors = []
    window.runs.error.connect(errors.append)
    window.runs.ask_text = lambda *args: "train.sed"
    window.runs.findChild(object, "runs_grouping").pick.trigger()
    assert errors and "did you mean 'train.seed'" in errors[0]
    assert window.runs.group_by() == ("optim.lr_g",)  # unchanged
    window.runs.set_group_by(groups.DEFAULT_IGNORED)
    assert len(window.runs.rows()) == 4


def test_a_baseline_from_the_context_menu_gives_a_delta_column_and_plot_deltas(seeds_window, qtbot):
    window = seeds_window
    tree = window.runs.findChild(QTreeView, "runs_tree")
    column = HEADERS.index("vs Baseline")
    assert tree.isColumnHidden(column)
    members = sorted(Path(r["path"]) for r in window.runs.rows() if r["depth"] == 1)
    base, other = members[0], members[1]
    menu = window.runs.context_menu(base)
    assert not _menu_action(menu, "Clear Baseline").isEnabled()
    _menu_action(menu, "Set as Baseline").trigger()
    assert window.runs.baseline() == base and not tree.isColumnHidden(column)
    rows = {Path(r["path"]): r for r in window.runs.rows() if r["path"]}
    infos = {p: window.runs.info(p) for p in members}
    assert rows[base]["vs Baseline"] == "baseline"
    expected = infos[other].metric[1] - infos[base].metric[1]
    assert rows[other]["vs Baseline"] == f"{expected:+.3g}"

    window.runs.set_ticked(other, True)
    qtbot.waitUntil(lambda: len(window.plots.overlays()) == 1, timeout=WAIT_MS)
    (overlay,) = window.plots.overlays()
    qtbot.waitUntil(lambda: "loss_d" in _drawn(window, overlay), timeout=WAIT_MS)
    values = _history(other).series("loss_d")
    np.testing.assert_allclose(_drawn(window, overlay)["loss_d"].y, values)
    # The plot's toggle: the other run minus the baseline at each step.
    deltas = _plot_action(window, "Deltas Against Baseline")
    deltas.trigger()
    assert deltas.isChecked()
    qtbot.waitUntil(lambda: window.plots.baseline() is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(window.plots.baseline().history) == 3, timeout=WAIT_MS)
    np.testing.assert_allclose(_drawn(window, overlay)["loss_d"].y, values - _history(base).series("loss_d"))
    assert "baseline" in window.plots.plot_widget(TAB).getPlotItem().getAxis("left").labelText
    # Only the plot whose toggle is on draws deltas.
    assert not _menu_action(
        window.plots.plot_widget("D outputs").getPlotItem().getViewBox().menu, "Deltas Against Baseline"
    ).isChecked()

    _menu_action(window.runs.context_menu(other), "Clear Baseline").trigger()
    assert window.runs.baseline() is None and tree.isColumnHidden(column)
    qtbot.waitUntil(lambda: window.plots.baseline() is None, timeout=WAIT_MS)
    np.testing.assert_allclose(_drawn(window, overlay)["loss_d"].y, values)


def test_a_groups_band_is_made_once_per_version_and_for_the_tabs_keys_only(monkeypatch):
    """Panning or zooming a plot (a new view) reduces the group's mean and band again but does not
    recompute them; a change of its runs (a new version) does; each tab asks for its own keys."""
    from types import SimpleNamespace

    from ganstudio.qt.widgets import plot_overlay
    from tests.core.test_groups import _history

    members = [
        SimpleNamespace(
            history=_history(
                {s: {"loss_d": s + r, "loss_g": s - r, "fd": r, "fd_std": 0.1} for s in range(1, 9)}
            )
        )
        for r in range(3)
    ]
    asked = []

    def counted(histories, band, only=None):
        asked.append(set(only))
        return groups.group_band(histories, band, only)

    monkeypatch.setattr(plot_overlay, "group_band", counted)
    overlay = GroupOverlay("g (mean of 3)", "#1f77b4", members)
    losses = [("loss_d", "D loss"), ("loss_g", "G loss")]
    first = overlay.curves(losses, False, (400, 0.0, 8.0), 0.0, False)
    overlay.curves(losses, False, (300, 2.0, 6.0), 0.0, False)  # a zoom: the same band
    assert asked == [{"loss_d", "loss_d_std", "loss_g", "loss_g_std"}]
    assert [c.key for c in first] == ["loss_d", "loss_g"]
    np.testing.assert_allclose(first[0].band[1], [s for s in range(1, 9)])  # min over the runs: r = 0
    overlay.curves([("fd", "FD")], True, (400, 0.0, 8.0), 0.0, False)  # another tab: its own keys
    assert asked[-1] == {"fd", "fd_std"}
    overlay.version += 1  # a run changed
    overlay.curves(losses, False, (300, 2.0, 6.0), 0.0, False)
    assert len(asked) == 3


def test_the_baseline_is_kept_for_the_next_session_while_its_run_is_there(
    seeds_window, seeds_dir, make_window, qtbot, tmp_path
):
    first = seeds_window
    base = sorted(seeds_dir.iterdir())[0]
    first.runs.set_baseline(base)
    first.save_settings()  # as closing the window does
    again = make_window(log__out=str(seeds_dir))  # the same settings: the next session
    qtbot.waitUntil(lambda: again.runs.baseline() == base, timeout=WAIT_MS)  # once a scan listed it
    assert not again.runs.findChild(QTreeView).isColumnHidden(HEADERS.index("vs Baseline"))

    qtbot.waitUntil(lambda: again.plots.baseline() is not None, timeout=WAIT_MS)  # the plots' deltas too

    # A baseline whose run is gone by the next session is never set; one the user sets wins.
    again.runs.set_baseline(None)
    for pending, then in ((tmp_path / "gone", None), (base, "user clears it")):
        again.runs.restore_baseline(pending)
        if then:
            again.runs.set_baseline(None)
        with qtbot.waitSignal(again.runs.scanned, timeout=WAIT_MS):
            again.runs.rescan()
        assert again.runs.baseline() is None, pending
