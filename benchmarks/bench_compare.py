"""10. Runs side by side: the plots with 10 compared runs, and the Runs dock on a folder of 200 runs.

10a: a PlotsPanel whose current run has 1e5 points per curve and 10 other runs of 1e5 points each
overlaid (ganstudio.qt.panels.plots.Overlay), every one growing by a few points between frames (forks
training at once). One frame is what a display tick does, as in bench_plots: the redraw (setData of
the visible tab's 22 curves from the min/max pyramids) and the paint (`grab()`).

10b: a folder of 200 run folders (copies of a real run, each log 2,000 lines long): the first scan
(every folder read: run.json, config.toml, the last 64 KB of metrics.jsonl, the heartbeat), a scan
again with nothing changed (a stat per file), and the Runs dock listing it in the window: time
until the 200 rows are shown, and the longest the GUI thread was held meanwhile (a 5 ms timer's
worst lateness), since the scan runs on a worker thread.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from statistics import median

from bench_plots import append_points, model_of, plots_panel, synthetic_history
from common import Options, Row, log, percentile, qt_app, spin

RUNS, POINTS = 10, 100_000
FOLDERS, LOG_LINES = 200, 2_000
FRAME_GOAL_MS = 8.0  # the plots' frame goal (bench_plots, 1e6 points of one run)
STALL_GOAL_MS = 50.0  # a GUI stall users do not notice


def overlay_frames(opts: Options) -> Row:
    from ganstudio.qt.overlays import RUN_COLORS
    from ganstudio.qt.panels.plots import Overlay

    app, model, panel = plots_panel()
    n = 20_000 if opts.quick else POINTS
    model.history.replace_with(synthetic_history(n, seed=99))  # refresh() below draws it
    overlays = [
        Overlay(f"run {k}", RUN_COLORS[k], model_of(synthetic_history(n, seed=k))) for k in range(RUNS)
    ]
    panel.set_overlays(overlays)
    plot = panel.plot_widget("Losses")
    t0 = time.perf_counter()
    panel.refresh()
    plot.grab()
    first = (time.perf_counter() - t0) * 1e3
    frames = 5 if opts.quick else 20
    total, data_part = [], []
    for _ in range(frames):
        for m in (model, *(o.model for o in overlays)):
            append_points(m, 5)
        t0 = time.perf_counter()
        panel.redraw()
        t1 = time.perf_counter()
        plot.grab()
        total.append((time.perf_counter() - t0) * 1e3)
        data_part.append((t1 - t0) * 1e3)
        app.processEvents()
    panel.close()
    p50, d50 = median(total), median(data_part)
    log(
        f"compare: {RUNS} runs x {n:,} points: frame p50 {p50:.1f} ms (setData {d50:.1f}); "
        f"first {first:.0f} ms"
    )
    return Row(
        "10a",
        f"Compare: one plots frame, current + {RUNS} runs x 1e{len(str(n)) - 1} points",
        f"p50 {p50:.1f} ms (setData {d50:.1f} + paint {p50 - d50:.1f})",
        f"p90 {percentile(total, 90):.1f} / max {max(total):.1f} ms (n={frames}); first draw {first:.0f} ms",
        f"<= {FRAME_GOAL_MS:g} ms p50",
        "n/a" if opts.quick else Row.judged(p50 <= FRAME_GOAL_MS),
    )


def make_runs(tmp: str, count: int) -> Path:
    """`count` run folders (copies of one real run, logs padded to LOG_LINES) in a new folder."""
    from common import config

    from ganstudio.core.run.driver import RunDriver

    root = Path(tmp) / "bench-compare-runs"
    shutil.rmtree(root, ignore_errors=True)
    cfg = config(
        "digits",
        **{
            "train.device": "cpu",
            "train.steps": 20,
            "log.every": 2,
            "metrics.every": 0,
            "log.sample_every": 0,
            "log.checkpoint_every": 0,
            "model.width": 8,
            "log.out": str(root / "seed"),
        },
    )
    driver = RunDriver(cfg, steer=False)
    driver.prepare()
    for _ in driver.events():
        pass
    driver.close()
    seed = driver.folder.path
    shutil.rmtree(seed / "checkpoints")
    lines = seed.joinpath("metrics.jsonl").read_text().splitlines(keepends=True)
    stats = next(line for line in lines if '"stats"' in line)
    padded = lines[:-1] + [stats] * (LOG_LINES - len(lines)) + lines[-1:]
    seed.joinpath("metrics.jsonl").write_text("".join(padded))
    runs = root / "runs"
    runs.mkdir()
    for i in range(count):
        shutil.copytree(seed, runs / f"20260101-{i:06d}-run{i}")
    return runs


def listing(opts: Options) -> Row:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from ganstudio.core.run.listing import RunScanner
    from ganstudio.qt.panels.runs import RunsPanel

    count = 40 if opts.quick else FOLDERS
    root = make_runs(opts.tmp, count)
    scanner = RunScanner()
    t0 = time.perf_counter()
    found = scanner.scan([root])
    cold = time.perf_counter() - t0
    assert len(found) == count and all(r.status == "finished" for r in found), found[:3]
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        scanner.scan([root])
        warm.append(time.perf_counter() - t0)

    app = qt_app()
    panel = RunsPanel()
    panel.resize(1100, 500)
    panel.show()
    spin(0.2)
    lateness: list[float] = []
    clock = QElapsedTimer()
    tick = QTimer()
    tick.setInterval(5)
    tick.timeout.connect(lambda: lateness.append(max(0.0, clock.restart() - 5.0)))
    clock.start()
    tick.start()
    t0 = time.perf_counter()
    panel.set_default_root(root)
    while len(panel.infos()) < count or panel.scanning or panel.building:
        app.processEvents()
        time.sleep(0.001)
        if time.perf_counter() - t0 > 120:
            break
    shown = time.perf_counter() - t0
    spin(0.1)
    tick.stop()
    panel.shutdown()
    panel.close()
    stall = max(lateness) if lateness else 0.0
    log(
        f"runs: {count} folders: first scan {cold * 1e3:.0f} ms, again {median(warm) * 1e3:.1f} ms; dock "
        f"shows them in {shown * 1e3:.0f} ms, worst GUI stall {stall:.0f} ms"
    )
    return Row(
        "10b",
        f"Runs dock: a folder of {count} runs",
        f"listed in {shown * 1e3:.0f} ms; GUI thread held <= {stall:.0f} ms",
        f"core scan: first {cold * 1e3:.0f} ms, unchanged again {median(warm) * 1e3:.1f} ms (n=5)",
        f"GUI stall <= {STALL_GOAL_MS:g} ms",
        Row.judged(stall <= STALL_GOAL_MS),
    )


def run(opts: Options) -> list[Row]:
    return [overlay_frames(opts), listing(opts)]
