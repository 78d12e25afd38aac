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

The first background quality metrics are submitted at step 500, just before the base reading, so
the 5a/5b growth includes their one-off warm-up (the metrics thread's first evaluation: the digits
classifier loaded, the reference features computed, torch kernels paged in, the thread's malloc
arena). RSS is therefore also read once the first metrics have arrived, and again once the
metrics of the last reading's step (5,500; 100,500 with --long) have arrived, and 5c (5d with
--long) report the growth between the two: what a long session adds after the warm-up. Both ends
of that figure are read at the same point of the metrics cycle, just after an evaluation ended
(the readings at step 500 + k * 1000 come just after an evaluation was submitted, so they catch
its scratch buffers or not, depending on how far it got).
"""

from __future__ import annotations

import time
from pathlib import Path

from common import Options, Row, close_window, config, log, open_window, rss_mb, spin_until

GOAL_MB = 40.0  # issue 22: 5a and 5b, each read against the step-500 base
BASE_STEP = 500
LONG_STEPS = 100_000  # --long; a multiple of 10,000 (a script may lower it for a shorter look)


def trimmed_rss_mb() -> float:
    """RSS after glibc's malloc_trim(0); plain RSS where that is not available."""
    from ganstudio.core.train.allocator import release_free_memory

    release_free_memory()
    return rss_mb()


def run(opts: Options) -> list[Row]:
    import gc

    short, long_steps = (2_000, LONG_STEPS) if opts.quick else (5_000, LONG_STEPS)
    long_label = f"{long_steps // 1000}k"
    target = long_steps if opts.long else short
    cfg = config(
        "digits",
        **{
            "model.width": 16,
            "log.sample_every": 10,
            "train.steps": BASE_STEP + target + 1000,
            "train.threads": opts.threads,
            "train.device": "cpu",
            "log.out": str(Path(opts.tmp) / "runs"),
        },
    )
    app, window = open_window(cfg, opts.tmp)
    s = window.session
    metrics_seen: list[int] = []  # steps whose quality metrics have arrived
    from ganstudio.core.run.events import Metrics

    s.model.changed.connect(lambda changes: metrics_seen.extend(ev.step for ev in changes.of_type(Metrics)))
    window.start()

    def reach(step: int) -> int:
        if not spin_until(lambda: s.trainer is not None and s.trainer.step >= step, 3600, poll_ms=50):
            raise RuntimeError(f"training did not reach step {step} (state {s.state})")
        return s.trainer.step

    base_step = reach(BASE_STEP)
    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    log(
        f"memory: RSS {base:.0f} MB at step {base_step}; training {target} more steps "
        f"(sample grid every {cfg.log.sample_every} steps)"
    )

    def after_metrics_of(step: int) -> tuple[float, int]:
        """RSS and the step once the quality metrics of `step` (or later) have arrived."""
        if not spin_until(lambda: bool(metrics_seen) and metrics_seen[-1] >= step, 600, poll_ms=20):
            raise RuntimeError(f"the quality metrics of step {step} did not arrive")
        gc.collect()
        return rss_mb(), s.trainer.step

    warm, warm_step = after_metrics_of(BASE_STEP)
    log(
        f"memory: RSS {warm:.0f} MB at step {warm_step}, after the first quality metrics: "
        f"warm-up {warm - base:+.1f} MB"
    )
    growth: dict[int, float] = {}  # steps trained since the base -> MB
    warm_growth: dict[int, float] = {}  # the same, from `warm`, read after that step's metrics
    evaluating: dict[int, bool] = {}  # was that step's evaluation (submitted at it) still running?
    for done in range(1000, target + 1, 1000):
        step = reach(BASE_STEP + done)
        growth[done] = rss_mb() - base
        evaluating[done] = not metrics_seen or metrics_seen[-1] < BASE_STEP + done
        if done % 10_000 == 0 or done in (5000, target):
            log(
                f"memory: step {step}: RSS {base + growth[done]:.0f} MB ({growth[done]:+.1f}); "
                f"timeline {len(window.samples.steps)} grids, history {len(s.history)} points"
                + ("; its quality metrics still being computed" if evaluating[done] else "")
            )
        if done in (short, target):
            rss, at = after_metrics_of(BASE_STEP + done)
            warm_growth[done] = rss - warm
            log(
                f"memory: RSS {rss:.0f} MB at step {at}, after its metrics: {warm_growth[done]:+.1f} "
                "since the warm-up"
            )
    gc.collect()
    before_trim = rss_mb()
    kept = before_trim - trimmed_rss_mb()
    elapsed = time.perf_counter() - t0
    timeline = len(window.samples.steps)
    close_window(app, window)

    rows = []

    def in_flight(steps: int) -> str:
        return (
            f"; metrics of step {BASE_STEP + steps} still running at the end reading"
            if evaluating[steps]
            else ""
        )

    def after_warmup(steps: int, row_id: str, label: str) -> Row:
        return Row(
            row_id,
            f"Memory: RSS growth over {label} steps after the warm-up (first metrics done)",
            f"{warm_growth[steps]:+.1f} MB",
            f"RSS {warm:.0f} MB at step {warm_step} -> {warm + warm_growth[steps]:.0f} MB, each read "
            f"just after an evaluation's metrics arrived; the one-off warm-up from step {base_step} "
            f"to {warm_step}, counted in 5a/5b: {warm - base:+.1f} MB",
            "",
            "",
        )

    g = growth[short]
    rows.append(
        Row(
            "5a",
            f"Memory: RSS growth over {short // 1000}k steps (grid every 10 steps)",
            f"{g:+.1f} MB",
            f"RSS {base:.0f} MB at step {base_step} -> {base + g:.0f} MB; "
            + ("" if opts.long else f"{kept:.1f} MB of it free pages the allocator keeps (malloc_trim); ")
            + f"timeline holds {timeline} grids"
            + in_flight(short),
            f"<= {GOAL_MB:g} MB",
            Row.judged(g <= GOAL_MB),
        )
    )
    if opts.long:
        g = growth[long_steps]
        mid = long_steps // 2 // 1000 * 1000
        rows.append(
            Row(
                "5b",
                f"Memory: RSS growth over {long_label} steps (grid every 10 steps)",
                f"{g:+.1f} MB",
                f"{growth[10_000]:+.1f} MB at 10k"
                + (f", {growth[mid]:+.1f} MB at {mid // 1000}k" if mid > 10_000 else "")
                + f"; {kept:.1f} MB of it free pages the allocator keeps (malloc_trim); "
                f"{elapsed / 60:.1f} min of training" + in_flight(long_steps),
                f"<= {GOAL_MB:g} MB",
                Row.judged(g <= GOAL_MB),
            )
        )
    else:
        rows.append(
            Row(
                "5b",
                f"Memory: RSS growth over {long_label} steps (grid every 10 steps)",
                "not run (use --long)",
                goal=f"<= {GOAL_MB:g} MB",
                met="n/a",
            )
        )
    rows.append(after_warmup(short, "5c", f"{short // 1000}k"))
    if opts.long:
        rows.append(after_warmup(long_steps, "5d", long_label))
    return rows
