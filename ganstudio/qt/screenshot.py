"""Screenshots of the app mid-training, for the README: `python -m ganstudio.qt.screenshot`.

Runs the real window offscreen on a preset, lets it train for a while, and saves window grabs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", default="digits")
    p.add_argument("--steps", type=int, default=4000, help="grab when training reaches this step")
    p.add_argument("--out", default="resources/screenshot.png")
    p.add_argument("--size", default="1400x860")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    p.add_argument("--tab", help="show this plot tab, e.g. 'Precision/recall'")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings, QTimer

    from ganstudio.core.config import apply_overrides, presets
    from ganstudio.qt.app import build_window, make_app

    app = make_app([])
    tmp = Path(tempfile.mkdtemp(prefix="ganstudio-shot-"))
    cfg = apply_overrides(
        presets.get(args.preset),
        [f"log.out={tmp / 'runs'}", f"train.steps={args.steps + 1000}", *args.overrides],
    )
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = build_window(cfg, settings)
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()
    if args.tab:
        window.plots.show_tab(args.tab)
    window.start()

    def poll() -> None:
        if window.session.step >= args.steps:
            timer.stop()
            window.plots.refresh()
            QTimer.singleShot(300, grab)  # let the samples and plots catch up with the last step

    def grab() -> None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(args.out)
        print(f"{args.out} at step {window.session.step}")
        window.ask_close = lambda: "quit"
        window.close()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(100)
    window.session.thread_finished.connect(lambda: app.quit() if not window.isVisible() else None)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
