"""A new user's first hour, through the real window: alerts that are seen, keys that go where the
focus is, plots that show their bands and keep their legends out of the way, a layout that can be
reset, a status bar that says what is true now, and a help page of shortcuts."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QStyle,
    QTabBar,
    QWidget,
)

from ganstudio.core.config import presets
from ganstudio.core.run.events import Alert, Stats
from ganstudio.core.run.history import Marker
from ganstudio.qt.widgets.plot_items import TICK_PX
from tests.qt.conftest import LONG_RUN, WAIT_MS, stop_and_wait
from tests.qt.test_main_window import action, field, start_and_wait, type_value


def alert(step: int, message: str, kind: str = "d_wins") -> Alert:
    return Alert(step=step, kind=kind, message=message, evidence={"loss_d": 0.01})


def tab_bar_of(window, title: str) -> QTabBar:
    """The dock tab bar that holds a tab titled `title`."""
    for bar in window.findChildren(QTabBar):
        if bar.isVisible() and any(bar.tabText(i) == title for i in range(bar.count())):
            return bar
    raise AssertionError(f"no visible dock tab titled {title!r}")


def squeezed_tabs(bar: QTabBar) -> list[str]:
    """Tabs narrower than their titles need: Qt elides those ("Ale…")."""
    return [bar.tabText(i) for i in range(bar.count()) if bar.tabRect(i).width() < bar.tabSizeHint(i).width()]


def is_current_dock(window, dock: QDockWidget) -> bool:
    """Whether `dock` is the one shown in its tab group."""
    bar = tab_bar_of(window, dock.windowTitle())
    return bar.tabText(bar.currentIndex()) == dock.windowTitle()


def press(window, key: Qt.Key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A key pressed on the keyboard: through the window system, shortcut matching and all."""
    QTest.keyClick(window.windowHandle(), key, modifiers)
    QApplication.processEvents()


def focus(qtbot, window, widget: QWidget) -> None:
    window.activateWindow()
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=WAIT_MS)


# ----- 2: alerts are seen ------------------------------------------------------------------------


def test_an_alert_shows_a_banner_that_stays_until_dismissed(qtbot, window):
    banner = window.alert_banner
    assert banner.isHidden()
    window.session.model.apply([alert(120, "D loss below 0.05 for 20 intervals")])
    assert banner.isVisible()
    assert "120" in banner.text() and "Discriminator winning" in banner.text()
    assert "D loss below 0.05" in banner.text()
    window.session.message.emit("Checkpoint saved at step 130: /runs/x.pt")  # the status bar moves on
    assert banner.isVisible()

    window.session.model.apply([alert(250, "gradient norm 5e6", kind="grad_explode")])
    assert banner.count() == 2
    assert "2 alerts" in banner.text() and "gradient norm 5e6" in banner.text()

    # Show raises the Alerts list (behind Hyperparameters by default), newest selected.
    dock = window._docks["alerts"]
    assert not is_current_dock(window, dock)
    qtbot.mouseClick(window.findChild(QPushButton, "alert_banner_show"), Qt.MouseButton.LeftButton)
    assert is_current_dock(window, dock)
    assert banner.isVisible()  # still there until dismissed

    qtbot.mouseClick(window.findChild(QPushButton, "alert_banner_dismiss"), Qt.MouseButton.LeftButton)
    assert banner.isHidden()
    window.session.model.apply([alert(300, "classes covered fell to 3", kind="collapse")])
    assert banner.isVisible() and banner.count() == 1 and "classes covered" in banner.text()
    assert window.alerts.count() == 3  # the list keeps every alert


def test_the_alerts_tab_shows_its_count_in_full(qtbot, window):
    assert squeezed_tabs(tab_bar_of(window, "Alerts")) == []
    for i in range(12):
        window.session.model.apply([alert(10 * i, "D loss near 0")])
    title = window._docks["alerts"].windowTitle()
    assert "12" in title
    qtbot.waitUntil(lambda: squeezed_tabs(tab_bar_of(window, title)) == [], timeout=WAIT_MS)


def test_a_new_run_clears_the_banner(qtbot, window):
    window.session.model.apply([alert(5, "D loss near 0")])
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: window.alert_banner.isHidden(), timeout=WAIT_MS)
    assert window._docks["alerts"].windowTitle() == "Alerts"
    qtbot.waitUntil(lambda: not window.session.busy, timeout=WAIT_MS)


# ----- 3: keys go where the focus is --------------------------------------------------------------


def test_space_pauses_from_a_committed_field_and_types_in_one_being_edited(qtbot, make_window):
    """The report: after typing a value and pressing Return, the focus stays in the field and Space
    typed a space there instead of pausing. The rule (SPACE_RULE): Space pauses wherever the focus
    is, except while a value is being typed."""
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=0)
    s = window.session
    start_and_wait(qtbot, window)
    edit = field(window, "optim.lr_g")
    focus(qtbot, window, edit)
    edit.selectAll()
    qtbot.keyClicks(edit, "0.0003")
    press(window, Qt.Key.Key_Return)  # committed; the focus stays in the field
    assert QApplication.focusWidget() is edit
    qtbot.waitUntil(lambda: s.config.optim.lr_g == 0.0003, timeout=WAIT_MS)  # applied by the run
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
    assert edit.text() == "0.0003"  # nothing typed
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: s.state == "running", timeout=WAIT_MS)

    # While a value is being typed, Space is a character of it.
    edit.end(False)
    qtbot.keyClicks(edit, "1")
    press(window, Qt.Key.Key_Space)
    assert edit.text() == "0.00031 "
    step = s.step
    qtbot.waitUntil(lambda: s.step > step, timeout=WAIT_MS)
    assert s.state == "running"
    press(window, Qt.Key.Key_Backspace)
    press(window, Qt.Key.Key_Escape)

    focus(qtbot, window, window.plots)
    press(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)

    # Shortcuts with a modifier work from inside a text field too.
    focus(qtbot, window, edit)
    paused_at = s.trainer.step
    press(window, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)  # Step
    qtbot.waitUntil(lambda: s.step == paused_at + 1, timeout=WAIT_MS)
    press(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: s.state == "stopped", timeout=WAIT_MS)


# ----- 4: bootstrap bands are visible ---------------------------------------------------------


def add_metric(window, key: str, points: list[tuple[int, float, float]]) -> None:
    h = window.session.history
    for i, (step, value, std) in enumerate(points):
        h.append(
            Stats(step=step, epoch=1.0, wall=float(i), values={"loss_d": 1.0, key: value, f"{key}_std": std})
        )


def tinted(window, title: str, points: list[tuple[float, float]]) -> list[bool]:
    """Whether the plot of tab `title` shows the first series' colour (blue, faint or not) at each
    data point (x, y), give or take a pixel. The background, grid and text are grey or white."""
    window.plots.show_tab(title)
    window.plots.refresh()
    plot = window.plots.plot_widget(title)
    image = plot.grab().toImage()
    view = plot.getPlotItem().getViewBox()
    out = []
    for x, y in points:
        pos = plot.mapFromScene(view.mapViewToScene(pg.Point(x, y)))
        near = [image.pixelColor(pos.x() + dx, pos.y() + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        out.append(any(c.blue() - c.red() > 20 for c in near))
    return out


@pytest.mark.parametrize("steps", [[500], [500, 1000], [500, 1000, 1500]])
def test_bootstrap_bands_are_drawn_even_for_one_or_two_points(window, steps):
    add_metric(window, "fd", [(step, 40.0, 10.0) for step in steps])
    # Half a std above and below each point: inside the band, well clear of the dot itself.
    probes = [(step, 40.0 + sign * 5.0) for step in steps for sign in (1, -1)]
    assert all(tinted(window, "FD", probes))
    if len(steps) > 1:  # and between two points, the band fills the space
        middle = (steps[0] + steps[1]) / 2
        assert all(tinted(window, "FD", [(middle, 45.0), (middle, 35.0)]))
    assert not any(tinted(window, "FD", [(steps[0], 40.0 + 20.0)]))  # two std away: nothing


# ----- 5: legends list what applies, out of the way; routine markers stay light ----------------


def legend_labels(window, title: str) -> list[str]:
    window.plots.show_tab(title)
    window.plots.refresh()
    legend = window.plots.plot_widget(title).getPlotItem().legend
    return [label.text for _, label in legend.items]


def test_legends_list_only_series_with_data_and_never_cover_it(window):
    assert legend_labels(window, "Losses") == []  # nothing logged yet
    h = window.session.history
    for i, step in enumerate((100, 200)):
        h.append(
            Stats(
                step=step,
                epoch=1.0,
                wall=float(i),
                values={"loss_d": 1.0, "loss_g": 2.0, "classes_covered": 9.0, "classes_covered_std": 0.5},
            )
        )
    assert legend_labels(window, "Losses") == ["D loss", "G loss"]
    assert legend_labels(window, "Coverage") == ["classes covered"]  # no "modes covered" on digits
    for title in ("Losses", "Coverage"):
        window.plots.show_tab(title)
        item = window.plots.plot_widget(title).getPlotItem()
        data_area = item.getViewBox().sceneBoundingRect()
        assert not item.legend.sceneBoundingRect().intersects(data_area), title


def marker_rows(window, title: str, x: float) -> list[int]:
    """Rows of the plot (in widget pixels, top = 0) where a marker colour shows at data x."""
    window.plots.show_tab(title)
    window.plots.refresh()
    plot = window.plots.plot_widget(title)
    view = plot.getPlotItem().getViewBox()
    image = plot.grab().toImage()
    column = round(plot.mapFromScene(view.mapViewToScene(pg.Point(x, 0))).x())
    layer = window.plots.marker_layer(title)
    colours = {layer.color(i).name() for i in range(len(layer.markers))}
    return [
        y
        for y in range(image.height())
        if any(image.pixelColor(c, y).name() in colours for c in (column - 1, column, column + 1))
    ]


def test_routine_autosaves_are_short_ticks_and_other_markers_full_lines(qtbot, make_window):
    window = make_window(train__steps=20, log__checkpoint_every=5, log__sample_every=0)
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: window.session.state == "stopped", timeout=WAIT_MS)
    h = window.session.history
    assert [m.step for m in h.markers if m.kind == "checkpoint"][:3] == [5, 10, 15]
    h.add_marker(Marker(12, "d_wins", "D wins"))
    h.add_marker(Marker(7, "save", "checkpoint saved: /runs/x/manual.pt"))  # asked for by the user
    window.plots.refresh()
    view = window.plots.plot_widget("Losses").getPlotItem().getViewBox()
    plot_height = view.sceneBoundingRect().height()
    autosave = marker_rows(window, "Losses", 10)
    assert autosave and max(autosave) - min(autosave) <= TICK_PX + 2
    assert max(autosave) >= view.sceneBoundingRect().bottom() - 3  # at the bottom of the plot
    for step in (12, 7):
        rows = marker_rows(window, "Losses", step)
        assert max(rows) - min(rows) > 0.8 * plot_height, step


# ----- 6: View > Reset Layout --------------------------------------------------------------------


def test_the_first_layout_shows_the_live_samples_and_leaves_the_plots_their_height(qtbot, window):
    """Found in a screenshot: the Compare dock, tabified last, hid the live samples, and Qt gave the
    Runs dock a third of the window, squeezing the plots."""
    docks = window._docks
    assert is_current_dock(window, docks["samples"])
    runs = docks["runs"]
    assert runs.height() <= window.runs.compact_height() + 40  # the dock's title bar besides
    assert window.plots.height() > 2 * runs.height()
    assert window.runs.compact_height() >= 5 * window.runs.fontMetrics().height()


def test_reset_layout_brings_back_the_default_docks(qtbot, window):
    docks = window._docks
    docks["samples"].setFloating(True)
    docks["compare"].raise_()
    window.resizeDocks([docks["runs"]], [400], Qt.Orientation.Vertical)
    docks["checkpoints"].close()
    window.resizeDocks([docks["hyperparams"]], [60], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: docks["hyperparams"].width() < 150, timeout=WAIT_MS)

    action(window, "action_reset_layout").trigger()
    qtbot.waitUntil(lambda: not docks["samples"].isFloating(), timeout=WAIT_MS)
    for key in ("samples", "hyperparams", "checkpoints", "alerts"):
        assert docks[key].isVisible() or not docks[key].isHidden(), key
    assert docks["lab2d"].isHidden()  # digits: no 2D lab
    qtbot.waitUntil(lambda: squeezed_tabs(tab_bar_of(window, "Alerts")) == [], timeout=WAIT_MS)
    assert is_current_dock(window, docks["hyperparams"])
    assert is_current_dock(window, docks["samples"])
    assert docks["runs"].height() <= window.runs.compact_height() + 40
    assert action(window, "action_reset_layout") in window.menuBar().actions()[2].menu().actions()


def test_a_saved_layout_with_a_squeezed_left_dock_is_repaired_at_start(qtbot, make_window, settings):
    """Layouts saved while the latent explorer needed 650 px kept the left dock at ~150 px, its
    tab titles elided, on every start until Reset Layout."""
    window = make_window()
    docks = window._docks
    window.latent.setMinimumWidth(650)  # as the explorer was then
    docks["latent"].show()
    docks["latent"].raise_()
    qtbot.waitUntil(lambda: docks["hyperparams"].width() < 200, timeout=WAIT_MS)
    assert squeezed_tabs(tab_bar_of(window, "Alerts"))
    window.save_settings()
    # The offscreen screen is 800 px wide: a restored geometry would shrink the window until
    # nothing has room to give. The default size (the first window's) is what a desktop restores.
    settings.remove("window/geometry")
    again = make_window(config=False)
    qtbot.waitUntil(lambda: squeezed_tabs(tab_bar_of(again, "Alerts")) == [], timeout=WAIT_MS)
    assert again._docks["hyperparams"].width() >= 150


# ----- 7: the status says what is true now -------------------------------------------------------


def icon_image(icon):
    return icon.pixmap(16, 16).toImage()


def test_paused_shows_paused_and_the_resume_button_shows_play(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=0)
    s = window.session
    style = window.style()
    play = icon_image(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
    pause = icon_image(style.standardIcon(QStyle.StandardPixmap.SP_MediaPause))
    start_and_wait(qtbot, window)
    rate, eta = window.findChild(QLabel, "status_rate"), window.findChild(QLabel, "status_eta")
    qtbot.waitUntil(lambda: "it/s" in rate.text() and rate.text() != "— it/s", timeout=WAIT_MS)
    assert icon_image(action(window, "action_pause").icon()) == pause

    action(window, "action_pause").trigger()
    qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
    assert rate.text() == "paused"
    assert eta.text() == "ETA —"
    assert icon_image(action(window, "action_pause").icon()) == play

    action(window, "action_pause").trigger()  # resume
    qtbot.waitUntil(lambda: s.state == "running" and "it/s" in rate.text(), timeout=WAIT_MS)
    assert icon_image(action(window, "action_pause").icon()) == pause
    stop_and_wait(qtbot, window)
    assert rate.text() == "— it/s" and eta.text() == "ETA —"


def test_the_end_of_a_run_says_how_to_go_on_and_new_run_clears_the_status(qtbot, window):
    s = window.session
    start = action(window, "action_start")
    normal_tip = start.toolTip()
    start.trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 20, timeout=WAIT_MS)
    assert not start.isEnabled()
    for tip in (start.toolTip(), start.statusTip()):
        assert "train.steps = 20" in tip and "raise Steps in Hyperparameters" in tip
    assert window.statusBar().currentMessage()  # a message about the run, e.g. "Finished at step 20."

    type_value(qtbot, window, "train.steps", "30")
    assert start.isEnabled() and start.toolTip() == normal_tip

    action(window, "action_new_run").trigger()
    assert window.statusBar().currentMessage() == ""


def test_the_loaded_preset_is_named_until_edited(qtbot, make_window, tmp_path):
    window = make_window(config=presets.get("ring8"))
    chooser = window.findChild(QWidget, "hyperparams_preset")
    assert "ring8" in window.windowTitle() and "ring8" in chooser.currentText()
    type_value(qtbot, window, "optim.lr_g", "0.0003")
    assert "ring8 (modified)" in window.windowTitle() and "modified" in chooser.currentText()

    index = chooser.findData("digits-dcgan")
    chooser.setCurrentIndex(index)
    chooser.activated.emit(index)  # what choosing it in the list does
    assert "digits-dcgan" in window.windowTitle() and "modified" not in window.windowTitle()
    assert "digits-dcgan" in chooser.currentText()

    own = tmp_path / "own.toml"
    own.write_text("[optim]\nlr_g = 0.00031\n")
    window.load_config(own)
    assert window.windowTitle() == "GAN Studio"
    assert chooser.currentText() == "Load a preset…"


@pytest.mark.parametrize("button, name", [("samples_export_gif", "out.gif"), ("samples_save", "out.png")])
def test_export_starts_in_the_run_folder_and_confirms(
    qtbot, make_window, tmp_path, monkeypatch, button, name
):
    window = make_window(train__steps=10, log__sample_every=2)
    s = window.session
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and len(window.samples.steps) >= 3, timeout=WAIT_MS)
    asked = []
    target = tmp_path / name

    def fake_dialog(parent, caption, start, filter_=""):
        asked.append(Path(start))
        return str(target), filter_

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_dialog)
    boxes = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: boxes.append(a))
    qtbot.mouseClick(window.findChild(QPushButton, button), Qt.MouseButton.LeftButton)
    assert asked and asked[0].parent == s.run_dir / "samples"
    assert target.exists()
    assert str(target) in window.statusBar().currentMessage()
    assert boxes == []


# ----- 8: Help > Keyboard Shortcuts ----------------------------------------------------------------


def test_keyboard_shortcuts_lists_every_actions_shortcut_and_the_space_rule(qtbot, window):
    action(window, "action_step").setShortcut(QKeySequence("Ctrl+J"))  # read from the actions
    help_menu = window.menuBar().actions()[-1].menu()
    assert action(window, "action_shortcuts") in help_menu.actions()
    action(window, "action_shortcuts").trigger()
    dialog = window.findChild(QWidget, "shortcuts_dialog")
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT_MS)
    text = dialog.findChild(QLabel, "shortcuts_text").text()
    with_shortcuts = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    assert len(with_shortcuts) >= 8
    for a in with_shortcuts:
        assert a.shortcut().toString(QKeySequence.SequenceFormat.NativeText) in text, a.objectName()
        assert a.text().replace("&", "").rstrip("…") in text, a.objectName()
    assert "Ctrl+J" in text and "Ctrl+." not in text
    assert "Space" in text and "text field" in text
    assert not dialog.isModal()
    dialog.close()


def test_training_shortcuts_work_while_the_shortcuts_dialog_has_the_focus(qtbot, make_window):
    window = make_window(train__steps=LONG_RUN, log__checkpoint_every=0)
    start_and_wait(qtbot, window)
    action(window, "action_shortcuts").trigger()
    dialog = window.findChild(QWidget, "shortcuts_dialog")
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=WAIT_MS)
    QTest.keyClick(dialog.windowHandle(), Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=WAIT_MS)
    dialog.close()
    stop_and_wait(qtbot, window)


def test_the_readme_lists_every_shortcut(window):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Keyboard shortcuts", 1)[1].split("\n\n", 2)[1]
    rows = window.shortcut_rows()
    assert rows
    for _menu, _name, keys in rows:
        assert f"| {keys} |" in table, keys


def test_every_plot_of_the_window_offers_only_export_formats_that_work(qtbot, window):
    """The class of the plots panel's Export… fix: every pyqtgraph plot the window has built (the
    plots, the 2D scatter, the compare points; the lab's and the latent views' when built) goes
    through the same check."""
    import pyqtgraph as pg
    from pyqtgraph.exporters import CSVExporter, Exporter, ImageExporter, MatplotlibExporter, SVGExporter

    from ganstudio.qt.widgets.plot_items import working_exporters

    views = window.findChildren(pg.PlotWidget)
    assert len(views) >= 3
    for view in views:
        # pyqtgraph's registry as it comes, and the check not yet made: this view's own Export…
        # must make it (another view's having made it first would hide a view without the check).
        Exporter.Exporters[:] = [CSVExporter, ImageExporter, MatplotlibExporter, SVGExporter]
        working_exporters.cache_clear()
        scene = view.scene()
        scene.contextMenuItem = view.getPlotItem()  # what a right-click on the plot sets
        scene.contextMenu[0].trigger()  # "Export..."
        dialog = scene.exportDialog
        qtbot.addWidget(dialog)
        listed = [dialog.ui.formatList.item(i).expClass for i in range(dialog.ui.formatList.count())]
        assert listed == working_exporters(), view.objectName()
        dialog.close()
