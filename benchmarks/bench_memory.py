"""5. Memory: RSS growth of a long app session with the sample timeline on.

The real window trains a small digits model (width 16: fast steps) with a sample grid every 10
steps, so grids pour into the samples panel's timeline, stats into the plots' history and events
into the run folder. RSS (VmRSS from /proc; psutil is not a dependency) is read once training runs
at step >= 500 (allocator warm, first grids shown), then every 1,000 steps. The 100k-step session
runs with --long; otherwise the 5k-step figure is measured and the 100k one is "not run", with
the growth rate between 2.5k and 5k steps shown for what it is: a slope, not a measurement.
At the start and at the end, glibc's malloc_trim(0) then hands the allocator's free pages back
and RSS is read again: the difference says how much of the growth is memory the allocator keeps
for reuse (its arenas, fragmentation) rather than objects still alive.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import Options, Row, close_window, config, log, open_window, rss_mb, spin_until

GOAL_MB = 50.0
BASE_STEP = 500


def trimmed_rss_mb() -> float:
    """RSS after glibc's malloc_trim(0); plain RSS where that is not available."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return rss_mb()


def run(opts: Options) -> list[Row]:
    import gc

    short, long_steps = (2_000, 100_000) if opts.quick else (5_000, 100_000)
    target = long_steps if opts.long else short
    cfg = config("digits", **{
        "model.width": 16, "log.sample_every": 10, "train.steps": target + 1000,
        "train.threads": opts.threads, "train.device": "cpu", "log.out": str(Path(opts.tmp) / "runs"),
    })
    app, window = open_window(cfg, opts.tmp)
    s = window.session
    window.start()
    if not spin_until(lambda: s.trainer is not None and s.trainer.step >= BASE_STEP, 300):
        raise RuntimeError(f"the app did not start training (state {s.state})")
    gc.collect()
    base_step, base = s.trainer.step, rss_mb()
    base_trim = trimmed_rss_mb()
    t0 = time.perf_counter()
    log(f"memory: RSS {base:.0f} MB at step {base_step}; training to {target} steps "
        f"(sample grid every {cfg.log.sample_every} steps)")
    curve: dict[int, float] = {}
    mark = 1000
    while mark <= target:
        if not spin_until(lambda m=mark: s.trainer.step >= m or s.state in ("stopped", "idle"), 3600,
                          poll_ms=50):
            raise RuntimeError(f"training stalled before step {mark}")
        curve[mark] = rss_mb()
        if mark == target:
            gc.collect()
            end_trim = trimmed_rss_mb()
        if mark % 10_000 == 0 or mark == target or mark == 5000:
            log(f"memory: step {s.trainer.step}: RSS {curve[mark]:.0f} MB (+{curve[mark] - base:.1f}); "
                f"timeline {len(window.samples.steps)} grids, history {len(s.history)} points")
        mark += 1000
    elapsed = time.perf_counter() - t0
    timeline = len(window.samples.steps)
    close_window(app, window)

    at = lambda step: curve.get(step, curve[max(k for k in curve if k <= step)])  # noqa: E731
    rows = []
    g_short = at(short) - base
    rows.append(Row(
        "5a", f"Memory: RSS growth after {short // 1000}k steps (grid every 10 steps)",
        f"+{g_short:.1f} MB", f"RSS {base:.0f} MB at step {base_step} -> {at(short):.0f} MB"
        + ("" if opts.long else f"; after malloc_trim {end_trim - base_trim:+.1f} MB")
        + f"; timeline holds {timeline} grids", f"<= {GOAL_MB:g} MB", Row.judged(g_short <= GOAL_MB),
    ))
    if opts.long:
        g_long = at(long_steps) - base
        mid = at(long_steps // 2) - base
        rows.append(Row(
            "5b", "Memory: RSS growth after 100k steps (grid every 10 steps)",
            f"+{g_long:.1f} MB", f"+{mid:.1f} MB at 50k; after malloc_trim {end_trim - base_trim:+.1f} MB; "
            f"{elapsed / 60:.1f} min of training", f"<= {GOAL_MB:g} MB", Row.judged(g_long <= GOAL_MB),
        ))
    else:
        half = short // 2
        slope = (at(short) - at(half)) / (short - half) * 1000
        rows.append(Row(
            "5b", "Memory: RSS growth after 100k steps (grid every 10 steps)",
            "not run (use --long)",
            f"slope {half // 1000 if half >= 1000 else half / 1000:g}k->{short // 1000}k steps: "
            f"{slope:+.2f} MB per 1k steps (x95k more steps = {slope * 95:+.0f} MB if it stayed linear)",
            f"<= {GOAL_MB:g} MB", "n/a",
        ))
    return rows
