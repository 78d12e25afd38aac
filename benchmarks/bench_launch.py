"""6. Launch: from process start until the main window is shown.

A fresh interpreter imports ganstudio.qt.app, builds the window (offscreen, with scratch settings),
shows it and processes events once, then prints the wall time since the parent started it (the
parent passes its time.time() just before the spawn, so interpreter start-up is included). Runs
alternate with `python -c pass` (the interpreter alone) after one warm-up each, so disk caches
and load hit both alike. Also says whether torch (or torchvision, sklearn) had been imported by
then, and if so, which import pulled it in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from common import ROOT, Options, Row, log, spread

GOAL_S = 1.0

SHOW = """
import os, sys, time, json
t0 = float(sys.argv[1])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QSettings
from ganstudio.qt.app import build_window, make_app
app = make_app([])
window = build_window(None, QSettings(sys.argv[2], QSettings.Format.IniFormat))
window.show()
app.processEvents()
shown = time.time() - t0
print(json.dumps({"shown": shown, **{m: m in sys.modules for m in ("torch", "torchvision", "sklearn")}}))
"""

# Records the first import of torch with the stack that asked for it (diagnosis only: not timed).
WHO = """
import sys, traceback
class Who:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            frames = [f"{f.filename}:{f.lineno} ({f.name})" for f in traceback.extract_stack()[:-1]
                      if "importlib" not in f.filename and "<frozen" not in f.filename]
            ours = [f for f in frames if "ganstudio" in f]
            print("WHO " + " <- ".join(reversed((ours or frames)[-4:])), flush=True)
            sys.meta_path.remove(self)
        return None
sys.meta_path.insert(0, Who())
"""


def _run(code: str, *args: str) -> tuple[float, str]:
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, str(t0), *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    wall = time.time() - t0
    if out.returncode != 0:
        raise RuntimeError(f"launch failed: {out.stderr.strip().splitlines()[-1:]}")
    return wall, out.stdout


def run(opts: Options) -> list[Row]:
    reps = 2 if opts.quick else 5
    settings = str(Path(opts.tmp) / "launch-settings.ini")
    _run("pass")
    _run(SHOW, settings)
    shown, interp, modules = [], [], {}
    for i in range(reps):
        interp.append(_run("pass")[0])
        _, out = _run(SHOW, settings)
        rec = json.loads(out.strip().splitlines()[-1])
        shown.append(rec.pop("shown"))
        modules = rec
        log(f"launch {i + 1}/{reps}: window shown at {shown[-1]:.2f} s (python -c pass: {interp[-1]:.2f} s)")
    loaded = [m for m, yes in modules.items() if yes]
    who = ""
    if modules.get("torch"):
        _, out = _run(WHO + SHOW, settings)
        who = next((line[4:] for line in out.splitlines() if line.startswith("WHO ")), "unknown")
        log(f"launch: torch imported by {who}")
    t = median(shown)
    heavy = (
        "imported at startup: " + ", ".join(loaded) + (f" (torch via {who})" if who else "")
        if loaded
        else "torch, torchvision and sklearn not imported"
    )
    return [
        Row(
            "6",
            "Launch: process start -> main window shown",
            f"{t:.2f} s (python alone {median(interp):.2f} s)",
            spread(shown, unit=" s") + "; " + heavy,
            f"<= {GOAL_S:g} s",
            Row.judged(t <= GOAL_S),
        ),
    ]
