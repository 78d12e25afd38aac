"""S. System lines (log.system_every): what they cost training.

S1: headless training steps/s of the default digits run, writing its run folder as the CLI does,
with log.system_every = 10 (the default) against 0 (off), in alternating rounds (off, on, on, off,
...) on one torch thread; the ratio per round. Each run is long enough (~15 s) for its interval to
fire. S2: one reading of this process (SystemSampler.read: CPU times and RSS through psutil), the
whole of what a line costs one process besides writing it. S3: the webhook (log.notify_url) under
a worst case far above a real run's few events: the same run with a Notifier posting one alert per
log interval (every 50 steps) to a local server that holds each request 2 s before answering,
against no notifier, in alternating rounds; only the training loop is timed (not the last send).
"""

from __future__ import annotations

import tempfile
import time
from statistics import median

from common import Options, Row, config, log, spread

GOAL_RATIO = 0.99  # system lines at the default interval cost at most 1% of the steps/s


class _SlowHook:
    """A local webhook that holds each POST `hold_s` seconds before answering 200."""

    def __init__(self, hold_s: float):
        import http.server
        import threading

        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(hold_s)
                hook.posts += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.posts = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def steps_per_s(every: float, steps: int, threads: int, hook_url: str = "") -> float:
    import torch

    from ganstudio.core.run.folder import RunFolder
    from ganstudio.core.run.log import RunWriter
    from ganstudio.core.train.trainer import Trainer

    values = {
        "train.device": "cpu",
        "train.threads": threads,
        "train.steps": steps,
        "metrics.every": 0,
        "log.sample_every": 0,
        "log.checkpoint_every": 0,
        "log.system_every": every,
    }
    cfg = config("digits", **values)
    torch.set_num_threads(threads)
    trainer = Trainer(cfg)
    notifier = None
    if hook_url:
        from ganstudio.core.run.events import Alert, Stats
        from ganstudio.core.run.notify import Notifier

        notifier = Notifier(hook_url, run="bench", host="here")
    with tempfile.TemporaryDirectory(prefix="bench-system-") as tmp:
        with RunWriter(RunFolder(tmp), cfg) as writer:
            t0 = time.perf_counter()
            lines = 0
            for ev in trainer.run():
                writer.handle(ev)
                lines += type(ev).__name__ == "System"
                if notifier is not None:
                    notifier.handle(ev, "alerts,finished,failed,stopped")
                    if isinstance(ev, Stats):  # the worst case: an alert every log interval
                        notifier.handle(Alert(ev.step, "d_wins", "bench"), "alerts")
            elapsed = time.perf_counter() - t0
    if notifier is not None:
        notifier.close(0)
    if every:
        log(f"system_every={every}: {lines} system line(s)")
    return steps / elapsed


def cost_of_lines(opts: Options) -> Row:
    steps = 400 if opts.quick else 6000
    rounds = 1 if opts.quick else 3
    threads = max(1, opts.threads)
    rates: dict[float, list[float]] = {0: [], 10: []}
    for r in range(rounds):
        for every in (0, 10) if r % 2 == 0 else (10, 0):
            rates[every].append(steps_per_s(every, steps, threads))
            log(f"round {r}: log.system_every={every}: {rates[every][-1]:.0f} steps/s")
    ratios = [on / off for on, off in zip(rates[10], rates[0], strict=True)]
    ratio = median(ratios)
    return Row(
        "S1",
        "System lines: training steps/s with log.system_every=10 / 0 (default digits, run folder written)",
        f"{ratio:.3f}x ({median(rates[10]):.0f} vs {median(rates[0]):.0f} steps/s)",
        "ratio " + spread(ratios, fmt="{:.3f}", unit="x"),
        f">= {GOAL_RATIO}x",
        Row.judged(ratio >= GOAL_RATIO),
    )


def cost_of_a_reading(opts: Options) -> Row:
    from ganstudio.core.run.system import SystemSampler

    sampler = SystemSampler("cpu")
    n = 200 if opts.quick else 2000
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        sampler.read()
        times.append((time.perf_counter() - t0) * 1e6)
    return Row(
        "S2",
        "System lines: one reading of the process (CPU times, RSS; psutil)",
        f"{median(times):.0f} µs median",
        spread(times, fmt="{:.0f}", unit=" µs"),
    )


def cost_of_the_webhook(opts: Options) -> Row:
    steps = 400 if opts.quick else 6000
    rounds = 1 if opts.quick else 3
    threads = max(1, opts.threads)
    hook = _SlowHook(hold_s=2.0)
    rates: dict[bool, list[float]] = {False: [], True: []}
    try:
        for r in range(rounds):
            for on in (False, True) if r % 2 == 0 else (True, False):
                rates[on].append(steps_per_s(0, steps, threads, hook.url if on else ""))
                log(f"round {r}: webhook {'on' if on else 'off'}: {rates[on][-1]:.0f} steps/s")
    finally:
        hook.close()
    ratios = [on / off for on, off in zip(rates[True], rates[False], strict=True)]
    ratio = median(ratios)
    return Row(
        "S3",
        "Webhook: steps/s with a POST queued every log interval to a server holding each 2 s / none",
        f"{ratio:.3f}x ({median(rates[True]):.0f} vs {median(rates[False]):.0f} steps/s)",
        f"ratio {spread(ratios, fmt='{:.3f}', unit='x')}; {hook.posts} POSTs answered",
        f">= {GOAL_RATIO}x",
        Row.judged(ratio >= GOAL_RATIO),
    )


def run(opts: Options) -> list[Row]:
    rows = []
    for fn in (cost_of_a_reading, cost_of_lines, cost_of_the_webhook):
        log(fn.__name__)
        rows.append(fn(opts))
    return rows
