"""Health alerts from a run's stats and metrics: `HealthMonitor(cfg).observe(event) -> [Alert]`.

Kinds (stable identifiers; thresholds are the `health.*` config keys, all live-editable):

- d_wins: D's loss below health.d_wins_loss for health.d_wins_window logged intervals in a row.
  Every loss here but wgan-gp reaches 0 only when D separates real from fake perfectly (and the
  generator's gradient vanishes); wgan-gp's critic loss has no floor, so it is not checked.
- grad_explode: grad_d or grad_g above health.grad_max, or above health.grad_factor times its
  median over the last GRAD_WINDOW logged intervals (once MIN_HISTORY are known).
- d_overfit: D's accuracy on training reals above its accuracy on held-out reals (data.holdout)
  by more than health.overfit_gap for health.overfit_window logged intervals in a row: D is
  memorising the training set (StyleGAN2-ADA's observation; its r_t = E[sign(D(x_train))] is
  logged as d_overfit_rt beside it).
- collapse (at metrics steps): `diversity` (samples' mean pairwise distance over real data's)
  below health.collapse_diversity, or the modes (2D) or classes covered below
  (1 - health.collapse_drop) times the run's best so far.

- throughput_drop: steps/s below health.throughput_drop times its median over the last
  GRAD_WINDOW logged intervals for SLOW_WINDOW intervals and SLOW_SECONDS of training in a row, once
  WARMUP are known (the first intervals build the models' caches and are slow anyway; a short
  interval's rate is noise: a busy machine halves it for a moment).
- stalled (StallWatch, on a clock: a stalled run makes no events): a running, not paused run whose
  step has not moved for health.stall_seconds. The run driver asks it on its heartbeat thread.

An alert fires once per episode: when its condition starts to hold. The episode ends, and the
alert re-arms, after RECOVER healthy logged intervals in a row (for d_wins: with loss_d at or above
the threshold; for collapse: one healthy evaluation). Non-finite values are ignored: NaN/Inf
losses already pause the run.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable

from ganstudio.core.config import Config
from ganstudio.core.run.events import Alert, Metrics, Stats

RECOVER = 5
GRAD_WINDOW = 50
MIN_HISTORY = 20
COVERAGE_KEYS = (("modes_covered", "modes"), ("classes_covered", "classes"))
WARMUP = 10  # logged intervals of steps/s known before throughput_drop is checked
SLOW_WINDOW = 3  # logged intervals in a row below the threshold for a throughput_drop alert...
SLOW_SECONDS = 30.0  # ...lasting this many seconds of training together


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


class HealthMonitor:
    def __init__(self, cfg: Config):
        self.cfg = cfg  # the trainer replaces it on live edits
        self._low_d = 0
        self._gap_run = 0
        self._grads: dict[str, deque[float]] = {k: deque(maxlen=GRAD_WINDOW) for k in ("grad_d", "grad_g")}
        self._rates: deque[float] = deque(maxlen=GRAD_WINDOW)
        self._slow, self._slow_s = 0, 0.0  # slow intervals in a row, and their seconds
        self._wall = math.nan  # the last Stats' wall
        self._best_cover: dict[str, float] = {}
        self._active: set[str] = set()
        self._healthy: dict[str, int] = {}

    def observe(self, event: Stats | Metrics) -> list[Alert]:
        if isinstance(event, Stats):
            alerts = [
                self._d_wins(event),
                self._grad_explode(event),
                self._d_overfit(event),
                self._throughput(event),
            ]
        elif isinstance(event, Metrics):
            alerts = [self._collapse(event)]
        else:
            return []
        return [a for a in alerts if a is not None]

    def _episode(
        self, kind: str, start: bool, recover: int, make: Callable[[], Alert | None], bad: bool | None = None
    ) -> Alert | None:
        """The alert when `start` begins an episode of `kind`; None otherwise. `bad` (default:
        `start`) says whether this point is still unhealthy, which postpones the episode's end."""
        bad = start if bad is None else bad
        if start and kind not in self._active:
            self._active.add(kind)
            self._healthy[kind] = 0
            return make()
        if bad:
            self._healthy[kind] = 0
        elif kind in self._active:
            self._healthy[kind] = self._healthy.get(kind, 0) + 1
            if self._healthy[kind] >= recover:
                self._active.discard(kind)
        return None

    def _d_wins(self, ev: Stats) -> Alert | None:
        h = self.cfg.health
        loss = ev.values.get("loss_d")
        if h.d_wins_loss <= 0 or self.cfg.loss.kind == "wgan-gp" or not _finite(loss):
            self._low_d = 0
            return self._episode("d_wins", False, RECOVER, lambda: None)
        low = loss < h.d_wins_loss
        self._low_d = self._low_d + 1 if low else 0

        def make() -> Alert:
            v = ev.values
            return Alert(
                step=ev.step,
                kind="d_wins",
                message=(
                    f"the discriminator is winning: loss_d has stayed below {h.d_wins_loss:g} for "
                    f"{self._low_d} logged intervals (now {loss:.3g}; D(x) {v.get('d_real', math.nan):.3f}, "
                    f"D(G(z)) {v.get('d_fake', math.nan):.3f}), so the generator learns little. "
                    "Try a lower optim.lr_d, fewer optim.d_steps or another loss."
                ),
                evidence={
                    "loss_d": loss,
                    "threshold": h.d_wins_loss,
                    "intervals": float(self._low_d),
                    "d_real": v.get("d_real", math.nan),
                    "d_fake": v.get("d_fake", math.nan),
                },
            )

        return self._episode("d_wins", self._low_d >= h.d_wins_window, RECOVER, make, bad=low)

    def _d_overfit(self, ev: Stats) -> Alert | None:
        h = self.cfg.health
        v = ev.values
        train, held = v.get("holdout_acc_train"), v.get("holdout_acc_heldout")
        if h.overfit_gap <= 0 or not (_finite(train) and _finite(held)):
            if h.overfit_gap <= 0:
                self._gap_run = 0
            return None  # no holdout measured at this point (e.g. a single step): no evidence
        gap = train - held
        wide = gap > h.overfit_gap
        self._gap_run = self._gap_run + 1 if wide else 0

        def make() -> Alert:
            return Alert(
                step=ev.step,
                kind="d_overfit",
                message=(
                    f"the discriminator is memorising the training images: it calls {train:.0%} of "
                    f"training reals real but only {held:.0%} of held-out ones (a gap above "
                    f"health.overfit_gap {h.overfit_gap:g} for {self._gap_run} logged intervals; "
                    f"r_t {v.get('d_overfit_rt', math.nan):.2f}). G learns to copy what D memorised: "
                    "use more data, augmentation, a smaller D (model.width), fewer optim.d_steps or a "
                    "lower optim.lr_d."
                ),
                evidence={
                    "acc_train": train,
                    "acc_heldout": held,
                    "gap": gap,
                    "threshold": h.overfit_gap,
                    "intervals": float(self._gap_run),
                    "r_t": v.get("d_overfit_rt", math.nan),
                },
            )

        return self._episode("d_overfit", self._gap_run >= h.overfit_window, RECOVER, make, bad=wide)

    def _throughput(self, ev: Stats) -> Alert | None:
        fraction = self.cfg.health.throughput_drop
        rate = ev.values.get("steps_per_s")
        seconds = ev.wall - self._wall if _finite(ev.wall - self._wall) else 0.0
        self._wall = ev.wall
        if not _finite(rate):
            return None
        median = statistics.median(self._rates) if len(self._rates) >= WARMUP else math.nan
        self._rates.append(rate)
        slow = fraction > 0 and median > 0 and rate < fraction * median
        self._slow, self._slow_s = (self._slow + 1, self._slow_s + max(seconds, 0.0)) if slow else (0, 0.0)

        def make() -> Alert:
            return Alert(
                step=ev.step,
                kind="throughput_drop",
                message=(
                    f"training slowed down: {rate:.3g} steps/s, below {fraction:g}x its running median "
                    f"{median:.3g} for {self._slow} logged intervals ({self._slow_s:.0f} s) in a row. "
                    "Something else may be "
                    "using the machine (another run, a metrics evaluation), the data may come from a slow "
                    "disk, or the device may be throttling; health.throughput_drop = 0 turns this off."
                ),
                evidence={
                    "steps_per_s": rate,
                    "median": median,
                    "threshold": fraction * median,
                    "intervals": float(self._slow),
                    "seconds": self._slow_s,
                },
            )

        start = self._slow >= SLOW_WINDOW and self._slow_s >= SLOW_SECONDS
        return self._episode("throughput_drop", start, RECOVER, make, bad=slow)

    def _grad_explode(self, ev: Stats) -> Alert | None:
        h = self.cfg.health
        worst: tuple[float, str, float, float] | None = None  # (ratio to its limit, key, value, median)
        for key, past in self._grads.items():
            v = ev.values.get(key)
            if not _finite(v):
                continue
            median = statistics.median(past) if len(past) >= MIN_HISTORY else math.nan
            limits = []
            if h.grad_max > 0:
                limits.append(h.grad_max)
            if h.grad_factor > 0 and median > 0:
                limits.append(h.grad_factor * median)
            past.append(v)
            if limits and v > min(limits):
                ratio = v / min(limits)
                if worst is None or ratio > worst[0]:
                    worst = (ratio, key, v, median)
        firing = worst is not None

        def make() -> Alert:
            _, key, v, median = worst
            times = f", {v / median:.0f}x its running median {median:.3g}" if median > 0 else ""
            return Alert(
                step=ev.step,
                kind="grad_explode",
                message=(
                    f"gradients are exploding: {key} = {v:.3g} at step {ev.step}{times} (limits: "
                    f"health.grad_max {h.grad_max:g}, health.grad_factor {h.grad_factor:g}x). "
                    "Lower the learning rates, or open an earlier checkpoint."
                ),
                evidence={key: v, "median": median, "grad_max": h.grad_max, "grad_factor": h.grad_factor},
            )

        return self._episode("grad_explode", firing, RECOVER, make)

    def _collapse(self, ev: Metrics) -> Alert | None:
        h = self.cfg.health
        v = ev.values
        reasons: list[str] = []
        evidence: dict[str, float] = {}
        div = v.get("diversity")
        if h.collapse_diversity > 0 and _finite(div) and div < h.collapse_diversity:
            reasons.append(
                f"the samples are {div:.2f}x as spread out as real data "
                f"(health.collapse_diversity {h.collapse_diversity:g})"
            )
            evidence.update(diversity=div, diversity_threshold=h.collapse_diversity)
        for key, label in COVERAGE_KEYS:
            covered = v.get(key)
            if not _finite(covered):
                continue
            best = self._best_cover.get(key, covered)
            if h.collapse_drop > 0 and covered < best * (1 - h.collapse_drop):
                reasons.append(f"{label} covered fell from {best:.0f} to {covered:.0f}")
                evidence.update({key: covered, f"best_{key}": best})
            self._best_cover[key] = max(best, covered)

        def make() -> Alert:
            return Alert(
                step=ev.step,
                kind="collapse",
                message=f"mode collapse at step {ev.step}: "
                + "; ".join(reasons)
                + ". Try a lower learning rate, a different loss, or an earlier checkpoint.",
                evidence=evidence,
            )

        return self._episode("collapse", bool(reasons), 1, make)


class StallWatch:
    """The `stalled` alert: `check(now, step, status, seconds)` on a clock (a stalled run makes no
    events to observe), with `now` from time.monotonic and `seconds` = health.stall_seconds. It fires
    once when a "running" run's step has not moved for `seconds`, and re-arms when the step moves.
    Any other status (paused, finishing) restarts the count: a resumed run gets the whole time."""

    def __init__(self) -> None:
        self._step: int | None = None
        self._since = 0.0
        self._fired = False

    def check(self, now: float, step: int, status: str, seconds: float) -> Alert | None:
        if status != "running" or step != self._step:
            self._fired = self._fired and step == self._step
            self._step, self._since = step, now
            return None
        quiet = now - self._since
        if seconds <= 0 or self._fired or quiet < seconds:
            return None
        self._fired = True
        return Alert(
            step=step,
            kind="stalled",
            message=(
                f"training has made no step for {quiet:.0f} s (since step {step}; health.stall_seconds "
                f"{seconds:g}) though it is not paused: it may wait on a data loader, a slow or "
                "unreachable disk, another process of a torchrun job or a hung device. Its process "
                "is alive (it says so); look at it, or stop the run and continue from a checkpoint."
            ),
            evidence={"seconds": quiet, "step": float(step), "stall_seconds": float(seconds)},
        )
