"""13. Your own loop: what GAN Studio's API (ganstudio.init) costs a training step.

The tutorial loop of examples/tutorial_loop.py (fully connected G and D on the 8x8 digits, batch
64, Adam, non-saturating loss) on the CPU, run in alternating rounds of the same process, the same
models and the same thread count: plain, and with the API's calls (log of its four 0-d tensor
stats every step, log_images every 250 steps, tick every step, optimizers watched, the control
file watched and the heartbeat written by the run's thread). Two figures: the rounds' step times
side by side (13a), and the time spent inside the API's calls, timed in the instrumented rounds,
over the step time (13b: the share the API takes, without the rounds' noise). On a GPU, 13c counts
the host syncs in the API's calls of steady steps (torch's sync debug mode); without one it is
skipped.

    python benchmarks/bench_api.py [--quick]      # this benchmark alone
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
import warnings
from statistics import median

from common import ROOT, Options, Row, emit, log, spread


def _tutorial():
    """examples/tutorial_loop.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("tutorial_loop", ROOT / "examples" / "tutorial_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Loop:
    """The tutorial's models and step; `round(n, run)` trains n steps, with the API when `run`."""

    def __init__(self, tut):
        import torch

        torch.manual_seed(0)
        self.tut = tut
        self.data = tut.load_data()
        self.G, self.D = tut.make_models()
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.fixed = torch.randn(64, tut.LATENT)
        self.step = 0
        self.api_s = 0.0  # time inside the API's calls, over the instrumented rounds

    def round(self, n: int, run=None) -> float:
        """Seconds per step over n steps."""
        import torch

        data, batch = self.data, 64
        t0 = time.perf_counter()
        for _ in range(n):
            self.step += 1
            step = self.step
            real = data[torch.randint(len(data), (batch,))]
            losses = self.tut.train_step(self.G, self.D, self.opt_g, self.opt_d, real)
            if run is not None:
                a = time.perf_counter()
                run.log(step, **losses)
                if step % 250 == 0:
                    with torch.no_grad():
                        run.log_images(step, self.G(self.fixed).view(-1, 1, 8, 8))
                run.tick(step)
                self.api_s += time.perf_counter() - a
        return (time.perf_counter() - t0) / n


def run(opts: Options) -> list[Row]:
    import torch

    import ganstudio

    rounds, n = (2, 200) if opts.quick else (10, 1000)
    loop = Loop(_tutorial())
    out = tempfile.mkdtemp(dir=opts.tmp or None)
    api = ganstudio.init(out=out, name="bench-api", config={"train.steps": 10**8})
    api.watch(g_optimizer=loop.opt_g, d_optimizer=loop.opt_d)
    t = torch.get_num_threads()
    log(
        f"api: the tutorial loop on the digits, batch 64, {t} thread(s), {rounds} rounds x {n} steps each way"
    )
    loop.round(n // 2)  # warm-up, both ways
    loop.round(n // 2, api)
    api.log_images(0, loop.G(loop.fixed).detach().view(-1, 1, 8, 8))  # torchvision's import: once
    loop.api_s, api_steps = 0.0, 0
    plain, instrumented = [], []
    for i in range(rounds):
        plain.append(loop.round(n))
        instrumented.append(loop.round(n, api))
        api_steps += n
        a, b = plain[-1] * 1e3, instrumented[-1] * 1e3
        log(f"round {i + 1}/{rounds}: {a:.3f} ms plain, {b:.3f} ms with the API")
    api.finish()
    ratios = [b / a - 1 for a, b in zip(plain, instrumented, strict=True)]
    step_s = median(plain)
    per_step = loop.api_s / api_steps
    share = per_step / step_s
    rows = [
        Row(
            "13a",
            f"Your own loop (CPU, {t} thread{'s' if t > 1 else ''}): step time with the API / without",
            f"{median(ratios):+.1%} ({median(instrumented) * 1e3:.3f} vs {step_s * 1e3:.3f} ms/step)",
            "rounds " + spread([r * 100 for r in ratios], fmt="{:+.1f}", unit="%"),
            "<= 2% of a digits step",
            Row.judged(median(ratios) <= 0.02),
        ),
        Row(
            "13b",
            "Your own loop: time inside log, log_images and tick per step / a digits step",
            f"{share:.2%} ({per_step * 1e6:.1f} µs of {step_s * 1e3:.3f} ms)",
            f"{api_steps} instrumented steps",
            "<= 2%",
            Row.judged(share <= 0.02),
        ),
        _gpu_syncs(opts),
    ]
    return rows


def _gpu_syncs(opts: Options) -> Row:
    """Host syncs inside log and tick on steady CUDA steps (not the steps that flush)."""
    import torch

    name = "Your own loop: host syncs per steady step on a GPU (sync debug mode)"
    if not torch.cuda.is_available():
        return Row("13c", name, "no GPU: skipped", met="skipped")
    import ganstudio

    device = torch.device("cuda")
    G = torch.nn.Sequential(torch.nn.Linear(100, 256), torch.nn.LeakyReLU(0.2), torch.nn.Linear(256, 64)).to(
        device
    )
    opt = torch.optim.Adam(G.parameters(), lr=2e-4)
    api = ganstudio.init(
        out=tempfile.mkdtemp(dir=opts.tmp or None), name="bench-api-gpu", config={"log.every": 50}
    )
    api.watch(g_optimizer=opt)
    syncs, steady = 0, 0
    for step in range(1, 501):
        loss = G(torch.randn(64, 100, device=device)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        flushing = step % 50 == 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            api.log(step, loss_g=loss.detach(), loss_d=loss.detach() * 2)
            api.tick(step)
            torch.cuda.set_sync_debug_mode("default")
        if not flushing:
            steady += 1
            syncs += sum("synchroniz" in str(w.message) for w in caught)
    api.finish()
    per = syncs / steady
    return Row("13c", name, f"{per:g} per steady step ({syncs} in {steady})", "", "0", Row.judged(syncs == 0))


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        import torch

        torch.set_num_threads(1)
        rows = run(Options(quick=quick, tmp=tmp))
    for r in rows:
        print(f"{r.id:4} {r.name:90} {r.result:40} {r.spread:30} {r.goal:20} {r.met}")
    emit(rows)
