"""5. Memory: RSS growth of a long app session with the sample timeline on.

The real window trains a small digits model (width 16: fast steps) with a sample grid every 10
steps, so grids pour into the samples panel's timeline, stats into the plots' history and events
into the run folder (a checkpoint every 1,000 steps). RSS (VmRSS from /proc; psutil is not a
dependency) is read at step 500 (allocator warm, first grids shown) and every 1,000 steps after
it, half-way between checkpoints so no save's transient buffers are counted. The 100k-step
session runs with --long; otherwise only the 5k-step figure is measured (RSS moves by several MB
either way as the background metrics thread and checkpoint saves come and go, so a slope from 5k
steps would be noise, not an estimate). At the end glibc's malloc_trim(0) hands the allocator's
free pages back and RSS is read again: the difference is memory the allocator kept for reuse,
not objects still alive.
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
        "model.width": 16, "log.sample_every": 10, "train.steps": BASE_STEP + target + 1000,
        "train.threads": opts.threads, "train.device": "cpu", "log.out": str(Path(opts.tmp) / "runs"),
    })
    app, window = open_window(cfg, opts.tmp)
    s = window.session
    window.start()

    def reach(step: int) -> int:
        if not spin_until(lambda: s.trainer is not None and s.trainer.step >= step, 3600, poll_ms=50):
            raise RuntimeError(f"training did not reach step {step} (state {s.state})")
        return s.trainer.step

    base_step = reach(BASE_STEP)
    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    log(f"memory: RSS {base:.0f} MB at step {base_step}; training {target} more steps "
        f"(sample grid every {cfg.log.sample_every} steps)")
    growth: dict[int, float] = {}  # steps trained since the base -> MB
    for done in range(1000, target + 1, 1000):
        step = reach(BASE_STEP + done)
        growth[done] = rss_mb() - base
        if done % 10_000 == 0 or done in (5000, target):
            log(f"memory: step {step}: RSS {base + growth[done]:.0f} MB ({growth[done]:+.1f}); "
                f"timeline {len(window.samples.steps)} grids, history {len(s.history)} points")
    gc.collect()
    kept = (base + growth[target]) - trimmed_rss_mb()
    elapsed = time.perf_counter() - t0
    timeline = len(window.samples.steps)
    close_window(app, window)

    rows = []
    g = growth[short]
    rows.append(Row(
        "5a", f"Memory: RSS growth over {short // 1000}k steps (grid every 10 steps)",
        f"{g:+.1f} MB", f"RSS {base:.0f} MB at step {base_step} -> {base + g:.0f} MB; "
        + ("" if opts.long else f"{kept:.1f} MB of it free pages the allocator keeps (malloc_trim); ")
        + f"timeline holds {timeline} grids", f"<= {GOAL_MB:g} MB", Row.judged(g <= GOAL_MB),
    ))
    if opts.long:
        g = growth[long_steps]
        rows.append(Row(
            "5b", "Memory: RSS growth over 100k steps (grid every 10 steps)",
            f"{g:+.1f} MB", f"{growth[10_000]:+.1f} MB at 10k, {growth[50_000]:+.1f} MB at 50k; "
            f"{kept:.1f} MB of it free pages the allocator keeps (malloc_trim); "
            f"{elapsed / 60:.1f} min of training", f"<= {GOAL_MB:g} MB", Row.judged(g <= GOAL_MB),
        ))
    else:
        rows.append(Row("5b", "Memory: RSS growth over 100k steps (grid every 10 steps)",
                        "not run (use --long)", goal=f"<= {GOAL_MB:g} MB", met="n/a"))
    return rows
