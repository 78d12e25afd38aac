"""The window's docks: where each panel sits at first, which share a tab group, their first sizes,
View › Reset Layout, and the docks whose title or visibility follows the run (Alerts, 2D Lab)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QDockWidget, QMainWindow, QStyle, QTabBar, QWidget

LEFT = Qt.DockWidgetArea.LeftDockWidgetArea
RIGHT = Qt.DockWidgetArea.RightDockWidgetArea
BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea


class DockLayout(QObject):
    """Builds a dock for each panel in `window`; `docks` holds them by name. The 2D lab's dock is
    empty until `set_lab` gives it its panel (built after the first paint)."""

    def __init__(self, window: QMainWindow, panels: dict[str, QWidget]):
        super().__init__(window)
        self._window = window
        self.lab_wanted = False  # the data is 2D: the lab's dock belongs in the layout
        self._default_state = None
        self.docks = {
            "samples": self._dock("Samples", panels["samples"], RIGHT),
            "hyperparams": self._dock("Hyperparameters", panels["hyperparams"], LEFT),
            "checkpoints": self._dock("Checkpoints", panels["checkpoints"], LEFT),
            "alerts": self._dock("Alerts", panels["alerts"], LEFT),
            # Empty for now; the dock itself exists now, for restoreState and the menu.
            "lab2d": self._dock("2D Lab", None, RIGHT, "lab2d_panel"),
            "runs": self._dock("Runs", panels["runs"], BOTTOM),
            "compare": self._dock("Compare", panels["compare"], RIGHT),
            "latent": self._dock("Latent Explorer", panels["latent"], RIGHT),
        }
        d = self.docks
        d["latent"].setObjectName("latent_dock")
        # Closed at first (View › Latent Explorer opens it): while closed it costs training nothing.
        d["latent"].hide()
        window.tabifyDockWidget(d["samples"], d["latent"])
        d["runs"].setObjectName("runs_dock")
        d["compare"].setObjectName("compare_dock")
        window.tabifyDockWidget(d["samples"], d["compare"])
        window.tabifyDockWidget(d["hyperparams"], d["checkpoints"])
        window.tabifyDockWidget(d["hyperparams"], d["alerts"])
        d["hyperparams"].raise_()
        # Shown when the data is 2D. Hidden before it is tabified: hidden after, it left a stray
        # "Samples | 2D Lab" tab bar drawn across the samples dock.
        d["lab2d"].hide()
        window.tabifyDockWidget(d["samples"], d["lab2d"])
        d["lab2d"].toggleViewAction().setEnabled(False)
        d["samples"].raise_()  # the live samples in front, not the last dock tabified

    def _dock(
        self, title: str, widget: QWidget | None, area: Qt.DockWidgetArea, name: str = ""
    ) -> QDockWidget:
        dock = QDockWidget(title, self._window)
        name = name or (widget.objectName() if widget is not None else "")
        dock.setObjectName(f"dock_{name or title.lower()}")
        if widget is not None:
            dock.setWidget(widget)
        self._window.addDockWidget(area, dock)
        return dock

    def remember_default(self) -> None:
        """Keep the layout as it is now for View › Reset Layout (before a saved one is restored)."""
        self._default_state = self._window.saveState()

    def reset(self) -> None:
        """Every dock back where it was at first (floating ones docked, closed ones shown), at its
        first size; the 2D lab only while the data is 2D."""
        self._window.restoreState(self._default_state)
        self.docks["samples"].raise_()
        lab = self.docks["lab2d"]
        if self.lab_wanted:
            lab.show()
            lab.raise_()
        self.docks["hyperparams"].raise_()
        self.fit()

    def fit(self) -> None:
        """The first layout's sizes: the left docks' tab titles in full, and the Runs dock a few
        rows tall (Qt would give the bottom area far more), so that the plots keep the height."""
        self.fit_left()
        runs = self.docks["runs"]
        if runs.isVisible() and not runs.isFloating():
            self._window.resizeDocks([runs], [runs.widget().compact_height()], Qt.Orientation.Vertical)

    def fit_left(self) -> None:
        """Widen the left dock area until its tab titles fit: squeezed, Qt elides them ("Ale…"),
        hiding the Alerts count. Measured on a tab bar like the dock area's, with "Alerts" (wider
        than any "⚠ N" it becomes)."""
        w = self._window
        probe = QTabBar(w)
        for key in ("hyperparams", "checkpoints"):
            probe.addTab(self.docks[key].windowTitle())
        probe.addTab("Alerts")
        frame = w.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetFrameWidth)
        needed = probe.sizeHint().width() + 2 * frame + 8  # the tab bar's own margins
        probe.deleteLater()
        left, right = self.docks["hyperparams"], self._shown_dock(RIGHT)
        extra = needed - left.width()
        if extra <= 0:
            return
        if right.width() - extra >= right.minimumSizeHint().width():
            # From the samples: at first the plots are at their narrowest already.
            w.resizeDocks([left, right], [needed, right.width() - extra], Qt.Orientation.Horizontal)
        else:  # the samples at their narrowest (a restored layout): from the plots
            w.resizeDocks([left], [needed], Qt.Orientation.Horizontal)

    def _shown_dock(self, area: Qt.DockWidgetArea) -> QDockWidget:
        """The dock in front in `area` (the others of its tab group keep stale sizes)."""
        shown = [
            d
            for d in self.docks.values()
            if self._window.dockWidgetArea(d) == area
            and d.isVisible()
            and not d.isFloating()
            and not d.visibleRegion().isEmpty()
        ]
        return shown[0] if shown else self.docks["samples"]

    def set_lab(self, panel: QWidget) -> None:
        self.docks["lab2d"].setWidget(panel)

    def show_lab(self, shown: bool) -> None:
        """2D data: the lab next to the samples, in front; image data: hidden."""
        self.lab_wanted = shown
        dock = self.docks["lab2d"]
        dock.toggleViewAction().setEnabled(shown)
        if shown:
            dock.show()
            dock.raise_()
        else:
            dock.hide()

    @Slot(int)
    def set_alerts_count(self, n: int) -> None:
        # Short, so the tab beside Hyperparameters and Checkpoints shows the count in full.
        dock = self.docks["alerts"]
        dock.setWindowTitle(f"⚠ {n}" if n else "Alerts")
        # The View menu shows the dock's title; there it is named, not counted.
        dock.toggleViewAction().setText("Alerts")

    def show_dock(self, name: str) -> None:
        dock = self.docks[name]
        dock.show()
        dock.raise_()

    @Slot(bool)
    def on_view_dock_triggered(self, checked: bool) -> None:
        """View › a dock, ticked: it opens in front of its tab group; Qt adds it behind the tab
        that was showing, so nothing seemed to happen."""
        dock = self.sender().parent() if self.sender() is not None else None
        if checked and isinstance(dock, QDockWidget):
            dock.raise_()
