"""What every benchmark shares: the table row, spreads, the machine, RSS, configs, Qt waiting.

Each benchmark module has `run(opts) -> list[Row]` and runs in a fresh child process of run.py, so
one benchmark's torch threads, Qt application or memory never leak into the next one's numbers.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS_MARK = "@@benchmark-rows@@ "  # a child prints its rows as one JSON line after this mark

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ganstudio.core.train.threads import usable_cores  # noqa: E402 (after the path; re-exported for the rows)


@dataclass
class Options:
    quick: bool = False
    long: bool = False
    threads: int = 1  # torch CPU threads for every trainer, both sides of every comparison
    goal_threads: int = 1  # the harness's thread count: the peer row at it is judged
    tmp: str = ""  # scratch folder the parent created (data files, run folders)


@dataclass
class Row:
    id: str  # "1a": benchmark number and sub-row
    name: str
    result: str
    spread: str = ""  # min / median / max or percentiles, with how many samples
    goal: str = ""
    met: str = ""  # "yes", "no", "skipped", "n/a" or ""

    @staticmethod
    def judged(ok: bool) -> str:
        return "yes" if ok else "no"


def emit(rows: list[Row]) -> None:
    print(ROWS_MARK + json.dumps([asdict(r) for r in rows]), flush=True)


def log(msg: str) -> None:
    """Progress on stderr (the parent passes it through; stdout carries the rows)."""
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----- numbers ---------------------------------------------------------------------------------


def spread(values: list[float], fmt: str = "{:.2f}", unit: str = "") -> str:
    """'min / median / max (n)'."""
    if not values:
        return "—"
    lo, med, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(lo)} / {fmt.format(med)} / {fmt.format(hi)}{unit} (n={len(values)})"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def rss_mb() -> float:
    """Resident set size of this process in MB, from /proc (psutil is not a dependency)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


# ----- the machine -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def machine(threads: int, default_threads: int, chosen_by: str) -> list[tuple[str, str]]:
    import torch

    if torch.cuda.is_available():
        device = f"cuda: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    else:
        device = "cpu (no CUDA GPU)"
    from importlib.metadata import PackageNotFoundError, version

    versions = [f"Python {platform.python_version()}", f"torch {torch.__version__}"]
    for dist in ("torchvision", "PySide6-Essentials", "pyqtgraph", "numpy"):
        try:
            versions.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return [
        ("date", time.strftime("%Y-%m-%d %H:%M %Z")),
        ("cpu", f"{cpu_model()}, {usable_cores()} usable cores (os.cpu_count {os.cpu_count()}), {mem}"),
        ("os", f"{platform.system()} {platform.release()}"),
        ("device", device),
        (
            "torch threads",
            f"{threads} ({chosen_by}) for every "
            f"trainer, both sides of every comparison, set once per benchmark process; "
            f"the peer also runs at its other counts (torch default here: {default_threads})",
        ),
        ("versions", ", ".join(versions)),
        ("load average at start", load_average()),
    ]


# ----- configs and data ------------------------------------------------------------------------


def config(preset: str = "digits", **values):
    """A preset with `{"section.key": value}` overrides, validated (keys use dots: pass a dict)."""
    from ganstudio.core.config import presets, validate, with_values

    return validate(with_values(presets.get(preset), values))


def fake_mnist(tmp: str, n: int) -> str:
    """A data.root holding n random MNIST training images in torchvision's layout (speed does not
    depend on the pixels). Written once per size and reused."""
    root = Path(tmp) / f"mnist-{n}"
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        sys.path.insert(0, str(ROOT / "tests" / "core"))
        from fake_torchvision import write_fake_mnist

        write_fake_mnist(root, n=n)
    return str(root)


# ----- Qt --------------------------------------------------------------------------------------


def qt_app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from ganstudio.qt.app import make_app

    return make_app([])


def spin(seconds: float) -> None:
    """Run the Qt event loop for `seconds`, idle-blocking like app.exec() (no busy polling, which
    would steal the CPU the worker thread trains on)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(max(0, int(seconds * 1000)), loop.quit)
    loop.exec()


def spin_until(predicate, timeout: float, poll_ms: int = 20) -> bool:
    """Run the Qt event loop until predicate() is true (checked every poll_ms) or timeout."""
    from PySide6.QtCore import QEventLoop, QTimer

    if predicate():
        return True
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(poll_ms)
    timer.timeout.connect(lambda: loop.quit() if predicate() else None)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    return bool(predicate())


def open_window(cfg, tmp: str, size: tuple[int, int] = (1360, 860)):
    """The real main window, shown offscreen, with its settings in a scratch file."""
    from PySide6.QtCore import QSettings

    from ganstudio.qt.app import build_window

    app = qt_app()
    settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
    window = build_window(cfg, settings)
    window.resize(*size)
    window.show()
    window.ask_close = lambda: "quit"
    app.processEvents()
    return app, window


def close_window(app, window, timeout: float = 60.0) -> None:
    """Stop training and close, as the app does: wait for the worker's thread to finish while the
    event loop runs (the thread quits through a queued signal, so a blocking wait would stall)."""
    window.session.stop()
    spin_until(lambda: not window.session.busy, timeout)
    window.close()
    app.processEvents()
