"""9. Following a run that another process trains: latency, opening a long log, and what watching
costs the training process.

9a. Follow latency: a writer process appends stats lines to a run folder's metrics.jsonl at a
    training run's pace (20 lines a second, each stamped with the time it was written), as
    `ganstudio train` does; the real window follows the folder (MainWindow.open_run) and a 1 ms
    timer on the GUI thread notes when each step is in the Losses plot's drawn data. Latency =
    drawn - written, on a local disk.
9b. Opening a run whose metrics.jsonl has a million stats lines: open_run() to every point in the
    model and the Losses plot drawn, in the real window of a fresh app process each time.
9c. Overhead of being followed: `ganstudio train` (default digits, headless, its own process) with
    the app following its folder against the same with nobody watching, in alternating rounds;
    steps/s from the run's own log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from common import ROOT, Options, Row, config, log, open_window, percentile, spin, spin_until, spread

GOAL_P99_S = 0.25
GOAL_OPEN_S = 3.0
GOAL_OVERHEAD = 0.98  # "costs the training process nothing measurable"

WRITER = r"""
import json, os, sys, time
path, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (json.dumps({"event": "started", "step": 0, "device": "cpu", "total_steps": 10**9,
                          "threads": 1, "host": "bench", "pid": os.getpid()}) + "\n").encode())
t0 = time.monotonic()
for i in range(1, n + 1):
    time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
    rec = {"event": "stats", "step": i * 10, "epoch": i / 100, "wall": i / rate, "loss_d": 1.0,
           "loss_g": 0.7, "d_real": 0.5, "d_fake": 0.5, "written": time.time()}
    os.write(fd, (json.dumps(rec) + "\n").encode())
"""


def _folder(tmp: str, name: str):
    from ganstudio.core.config import save
    from ganstudio.core.run.folder import RunFolder

    folder = RunFolder(Path(tmp) / name)
    folder.path.mkdir(parents=True, exist_ok=True)
    save(config("digits", **{"train.device": "cpu"}), folder.config_path)
    return folder


def follow_latency(opts: Options) -> Row:
    n = 40 if opts.quick else 300
    folder = _folder(opts.tmp, "followed")
    app, window = open_window(config("digits", **{"train.device": "cpu"}), opts.tmp)
    window.open_run(folder.path)
    spin(0.5)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder.metrics_path), str(n), "20"])
    from PySide6.QtCore import Qt, QTimer

    seen: dict[int, float] = {}
    curve = window.plots.curve("Losses", "loss_d")

    def look() -> None:
        x, _ = curve.getData()
        if x is not None and len(x):
            last = int(x[-1])
            if last not in seen:
                seen[last] = time.time()

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(1)
    timer.timeout.connect(look)
    timer.start()
    spin_until(lambda: proc.poll() is not None and (n * 10) in seen, n / 20 + 30)
    timer.stop()
    written = {}
    for line in folder.metrics_path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("event") == "stats":
            written[rec["step"]] = rec["written"]
    # A draw can show several new lines at once: each line's latency is the first draw that has it.
    drawn_at = sorted(seen.items())
    lat = []
    for step, t in written.items():
        first = next((when for s, when in drawn_at if s >= step), None)
        if first is not None:
            lat.append(first - t)
    window.close()
    app.processEvents()
    p50, p99 = median(lat), percentile(lat, 99)
    return Row(
        "9a",
        "Follow latency: a line written by another process -> drawn in the window",
        f"p99 {p99 * 1e3:.0f} ms",
        f"p50 {p50 * 1e3:.0f} / p99 {p99 * 1e3:.0f} / max "
        f"{max(lat) * 1e3:.0f} ms (n={len(lat)} lines at 20 a second, local disk)",
        f"p99 <= {GOAL_P99_S * 1e3:.0f} ms",
        Row.judged(p99 <= GOAL_P99_S),
    )


def open_long_log(opts: Options) -> Row:
    n = 20_000 if opts.quick else 1_000_000
    folder = _folder(opts.tmp, "long")
    keys = (
        "loss_d",
        "loss_g",
        "d_real",
        "d_fake",
        "grad_d",
        "grad_g",
        "lr_d",
        "lr_g",
        "steps_per_s",
        "images_per_s",
    )
    with open(folder.metrics_path, "w", encoding="utf-8") as f:
        f.write(
            json.dumps({"event": "started", "step": 0, "device": "cpu", "total_steps": n * 10, "threads": 1})
            + "\n"
        )
        for i in range(1, n + 1):
            rec = {"event": "stats", "step": i * 10, "epoch": i / 28.0, "wall": i * 0.05}
            rec.update({k: 1.0 / (1 + i % 97) + j for j, k in enumerate(keys)})
            f.write(json.dumps(rec) + "\n")
        f.write(json.dumps({"event": "finished", "step": n * 10, "reason": "completed"}) + "\n")
    size_mb = folder.metrics_path.stat().st_size / 1e6
    times = []
    for r in range(1 if opts.quick else 3):
        # Each opening in a fresh app process, as a user opens a run: in one process, each window
        # would start with the earlier windows' million-point histories still in memory.
        done = subprocess.run(
            [sys.executable, "-c", OPENER, str(folder.path), opts.tmp, str(n)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("opened ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"opening the long log failed: {done.stderr[-1500:]}")
        times.append(float(line.split()[1]))
        log(f"open_long_log {r + 1}: {times[-1]:.2f} s")
    best = median(times)
    return Row(
        "9b",
        f"Open a run folder with {n:,} stats lines ({size_mb:.0f} MB) and draw it",
        f"{best:.2f} s",
        spread(times, unit=" s"),
        f"<= {GOAL_OPEN_S:.0f} s",
        Row.judged(best <= GOAL_OPEN_S),
    )


def _train_rate(run_dir: Path, steps: int, follow: bool, opts: Options, tmp: str) -> float:
    cmd = [
        sys.executable,
        "-m",
        "ganstudio",
        "train",
        "--run-dir",
        str(run_dir),
        "--steps",
        str(steps),
        "--set",
        f"train.threads={opts.threads}",
        "--set",
        "train.device=cpu",
        "--set",
        "metrics.every=0",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = None
    if follow:
        watcher = subprocess.Popen(
            [sys.executable, "-c", FOLLOWER, str(run_dir), tmp],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    proc.wait(timeout=900)
    if watcher is not None:
        watcher.terminate()
        watcher.wait(timeout=60)
    walls = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    stats = [r for r in walls if r.get("event") == "stats"]
    # Steady state: from the tenth logged interval to the end (start-up and thread timing excluded).
    a, b = stats[10], stats[-1]
    return (b["step"] - a["step"]) / max(b["wall"] - a["wall"], 1e-9)


OPENER = r"""
import sys, time
sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from common import config, open_window, spin, spin_until
from pathlib import Path
run_dir, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
app, window = open_window(config("digits", **{"train.device": "cpu"}), tmp)
spin(0.3)
t0 = time.perf_counter()
window.open_run(run_dir)
if not spin_until(lambda: len(window.session.history) == n, 60, poll_ms=5):
    sys.exit("the long log did not open within 60 s")
window.plots.redraw()
app.processEvents()  # the paint
print(f"opened {time.perf_counter() - t0:.3f}")
window.close()
app.processEvents()
"""

FOLLOWER = r"""
import sys, time
sys.path.insert(0, ".")
sys.path.insert(0, "benchmarks")
from common import open_window, config, spin
from pathlib import Path
run_dir, tmp = sys.argv[1], sys.argv[2]
deadline = time.time() + 60
while not Path(run_dir, "config.toml").exists() and time.time() < deadline:
    time.sleep(0.05)
app, window = open_window(config("digits", **{"train.device": "cpu"}), tmp)
window.open_run(run_dir)
spin(3600)
"""


def overhead(opts: Options) -> Row:
    steps = 1500 if opts.quick else 6000
    rounds = 1 if opts.quick else 3
    rates = {False: [], True: []}
    for r in range(rounds):
        for follow in (False, True) if r % 2 == 0 else (True, False):
            run_dir = Path(opts.tmp) / f"overhead-{r}-{int(follow)}"
            rates[follow].append(_train_rate(run_dir, steps, follow, opts, opts.tmp))
            log(f"round {r}: followed={follow} {rates[follow][-1]:.0f} steps/s")
    ratios = [f / n for f, n in zip(rates[True], rates[False], strict=True)]
    ratio = median(ratios)
    return Row(
        "9c",
        "Overhead of being followed: `ganstudio train` steps/s with the app following / alone",
        f"{ratio:.2f}x ({median(rates[True]):.0f} vs {median(rates[False]):.0f} steps/s)",
        "ratio " + spread(ratios, unit="x"),
        f">= {GOAL_OVERHEAD}",
        Row.judged(ratio >= GOAL_OVERHEAD),
    )


def run(opts: Options) -> list[Row]:
    rows = []
    for fn in (follow_latency, open_long_log, overhead):
        log(fn.__name__)
        rows.append(fn(opts))
    return rows
