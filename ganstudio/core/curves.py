"""The numbers behind a live curve, Qt-free: TensorBoard's debiased EMA carried across chunks, a
growable buffer (the one the curves use), a min/max pyramid that reduces any index range to screen
resolution, one stat's incremental cache of both, the x and y a plot hands pyqtgraph for a view,
the range an axis that follows the data shows (with headroom, so its ticks stay put), and the
distance from a point to a polyline (hovering a curve). The plots panel draws from these;
they have their own tests.
"""

from __future__ import annotations

import importlib
import math
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

LOD_FACTOR = 8  # each level of the min/max pyramid reduces blocks of 8 of the level below
LOD_DIRECT_POINTS = 4096  # up to this many points in view are handed to pyqtgraph as they are
# An axis that follows the data grows by this share of the data's span past where the data went, and
# is fitted again once more than twice this is empty: its ticks (and pyqtgraph's picture of them,
# the largest part of a frame) then stay the same for many frames instead of moving with every point.
FOLLOW_HEADROOM = 0.1
SMOOTHING_MODULE = "scipy.signal"  # lfilter; its package takes ~1 s to import on a slow machine


PRELOAD_TRIES = 5  # ...a second apart: see _preload


def preload_smoothing() -> None:
    """Import scipy.signal on a thread of its own, so that the first smoothed curve (the first
    stats of a run, or a long run just opened) does not hold the GUI thread for the import. A
    redraw that comes first waits for the import in progress (Python's import lock), never longer."""
    if SMOOTHING_MODULE not in sys.modules:
        threading.Thread(target=_preload, name="preload-smoothing", daemon=True).start()


def _preload() -> None:
    """scipy's import looks at torch when torch is in sys.modules, and fails ("partially initialized
    module 'torch' has no attribute 'Tensor'") while another thread is still importing torch: Start
    pressed during the preload. Python drops what failed, so a later import works: try again, a
    second later, a few times. Should all fail, the first smoothed curve imports it and says why."""
    for attempt in range(PRELOAD_TRIES):
        try:
            importlib.import_module(SMOOTHING_MODULE)
            return
        except Exception:
            if attempt < PRELOAD_TRIES - 1:
                time.sleep(1.0)


def ema_debiased(
    values: np.ndarray, weight: float, state: float = 0.0, count: int = 0
) -> tuple[np.ndarray, float, int]:
    """TensorBoard's smoothing of finite `values`, continuing from a previous chunk.

    s_t = w*s_{t-1} + (1-w)*x_t, reported as s_t / (1 - w^t). `state` is the biased s of the last
    point already smoothed and `count` how many points that was. Returns (smoothed, state, count)
    to carry into the next chunk. Every term is kept, as TensorBoard does: the recursion runs in C
    (scipy's lfilter), so one huge spike fades exactly as it should instead of being cut off.
    """
    m = len(values)
    if m == 0:
        return np.empty(0), state, count
    x = np.asarray(values, dtype=np.float64)
    if weight <= 0.0:
        out = np.array(x)
        return out, float(out[-1]), count + m
    # A few new points per redraw (a batch of stats): cheaper as a loop than through lfilter's call
    # overhead (2 against 8 us for 5 points; a compare frame smooths ~20 series), and the same sums.
    if m <= 16:
        s = np.empty(m)
        last = state
        for i in range(m):
            last = weight * last + (1.0 - weight) * x[i]
            s[i] = last
    else:
        # Imported here (or ahead, by preload_smoothing): only smoothing needs it.
        from scipy.signal import lfilter

        s, _ = lfilter([1.0 - weight], [1.0, -weight], x, zi=[weight * state])
    state = float(s[-1])
    # Once w^t < 2^-64, 1 - w^t is exactly 1.0: only the first steps of a series need debiasing.
    biased_steps = count + m if weight >= 1.0 else math.ceil(64 * math.log(2) / -math.log(weight))
    k = min(m, biased_steps - count)
    if k > 0:
        s[:k] /= 1.0 - weight ** np.arange(count + 1, count + k + 1, dtype=np.float64)
    return s, state, count + m


class Growable:
    """A preallocated 1-D buffer that doubles when full; `view()` is what has been written."""

    def __init__(self, dtype: type, capacity: int = 1024):
        self.data = np.empty(capacity, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(2 * max(need, len(self.data)), dtype=self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = values
        self.n = need

    def view(self) -> np.ndarray:
        return self.data[: self.n]

    def clear(self) -> None:
        """Forget what was written; the capacity stays."""
        self.n = 0


class Lod:
    """A min/max pyramid over one growing series, for drawing it at screen resolution.

    Level k holds the min and max of consecutive blocks of LOD_FACTOR**(k+1) values. `extend` takes
    the values appended since the last call (the series itself is not copied), so keeping the
    pyramid current costs O(new points); `buckets` then reduces any index range to about `count`
    (min, max) pairs in O(count * LOD_FACTOR), however many points the range holds.
    """

    def __init__(self) -> None:
        self.n = 0
        self.levels: list[tuple[Growable, Growable]] = []
        self._tail = np.empty(0)  # the values after the last complete level-0 block

    def extend(self, new: np.ndarray) -> None:
        if len(new) == 0:
            return
        values = np.concatenate([self._tail, new]) if len(self._tail) else np.asarray(new, np.float64)
        self.n += len(new)
        full = len(values) // LOD_FACTOR * LOD_FACTOR
        self._tail = values[full:].copy()
        if not full:
            return
        blocks = values[:full].reshape(-1, LOD_FACTOR)
        mins, maxs = blocks.min(axis=1), blocks.max(axis=1)
        k = 0
        while True:
            if k == len(self.levels):
                self.levels.append((Growable(np.float64, 256), Growable(np.float64, 256)))
            lo, hi = self.levels[k]
            lo.extend(mins)
            hi.extend(maxs)
            above = self.levels[k + 1][0].n if k + 1 < len(self.levels) else 0
            start = above * LOD_FACTOR
            full = (lo.n - start) // LOD_FACTOR * LOD_FACTOR
            if full <= 0:
                return
            mins = lo.view()[start : start + full].reshape(-1, LOD_FACTOR).min(axis=1)
            maxs = hi.view()[start : start + full].reshape(-1, LOD_FACTOR).max(axis=1)
            k += 1

    def buckets(
        self, values: Callable[[int, int], np.ndarray], i0: int, i1: int, count: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first index, min, max) of about `count` consecutive buckets covering [i0, i1).

        `values(a, b)` returns the series' values a..b-1; it is asked only for ranges shorter than
        one block of the level used (the ends of the range that no block covers whole)."""
        m = i1 - i0
        per = m / max(count, 1)  # values per bucket
        level, size = -1, 1
        while level + 1 < len(self.levels) and size * LOD_FACTOR <= per:
            level += 1
            size *= LOD_FACTOR
        if level < 0:
            lo_all = hi_all = values(i0, i1)
            j0, j1 = i0, i1
        else:
            lo_g, hi_g = self.levels[level]
            j0 = -(-i0 // size)
            j1 = min(i1 // size, lo_g.n)
            if j1 <= j0:  # too short for a whole block: the raw values
                lo_all = hi_all = values(i0, i1)
                j0, j1, size = i0, i1, 1
            else:
                lo_all, hi_all = lo_g.view()[j0:j1], hi_g.view()[j0:j1]
        # Group the level's blocks into buckets of r blocks each (the last one may be short).
        r = max(1, math.ceil((j1 - j0) / max(count, 1)))
        edges = np.arange(0, j1 - j0, r)
        starts = [(edges + j0) * size]
        mins, maxs = [np.minimum.reduceat(lo_all, edges)], [np.maximum.reduceat(hi_all, edges)]
        head_end, tail_start = j0 * size, j1 * size
        if i0 < head_end:
            head = values(i0, head_end)
            starts.insert(0, np.array([i0]))
            mins.insert(0, head.min(keepdims=True))
            maxs.insert(0, head.max(keepdims=True))
        if tail_start < i1:
            tail = values(tail_start, i1)
            starts.append(np.array([tail_start]))
            mins.append(tail.min(keepdims=True))
            maxs.append(tail.max(keepdims=True))
        return np.concatenate(starts), np.concatenate(mins), np.concatenate(maxs)


class SeriesCache:
    """One stat's incremental state: which points are finite, and the smoothed finite values.

    Non-finite values (a stat missing from a log point, a NaN loss) are skipped, as TensorBoard
    does: they neither break the line nor reset the average. While every value is finite (the
    common case) no index is kept, and the plot gets History's own buffers. The min/max pyramids
    of the raw and smoothed finite values are built only once a series is drawn decimated.
    """

    def __init__(self) -> None:
        self.consumed = 0  # history points looked at
        self.finite: Growable | None = None  # indices of the finite points; None while all are
        self.smoothed = Growable(np.float64)
        self.weight: float | None = None
        self.state = 0.0  # the biased EMA after the last smoothed point
        self.count = 0  # finite points smoothed so far
        self.lod_raw = Lod()
        self.lod_smooth = Lod()

    @property
    def n_finite(self) -> int:
        return self.consumed if self.finite is None else self.finite.n

    def update(self, raw: np.ndarray, weight: float) -> None:
        n = len(raw)
        if n < self.consumed:  # the panel drops caches on a rollback; be safe anyway
            self.__init__()
        if n > self.consumed:
            ok = np.isfinite(raw[self.consumed : n])
            if self.finite is None and not ok.all():
                self.finite = Growable(np.int64, 2 * n)
                self.finite.extend(np.arange(self.consumed))
            if self.finite is not None:
                self.finite.extend(np.flatnonzero(ok) + self.consumed)
            self.consumed = n
        if weight <= 0.0:  # raw values are drawn; keep any smoothing for when it comes back
            return
        if weight != self.weight:
            self.weight = weight
            self.smoothed.clear()
            self.state, self.count = 0.0, 0
            self.lod_smooth = Lod()
        if self.count < self.n_finite:
            out, self.state, self.count = ema_debiased(
                self.finite_values(raw, self.count, self.n_finite), weight, self.state, self.count
            )
            self.smoothed.extend(out)

    def finite_values(self, raw: np.ndarray, a: int, b: int) -> np.ndarray:
        """The finite values a..b-1 (indices among the finite points)."""
        return raw[a:b] if self.finite is None else raw[self.finite.view()[a:b]]

    def pyramid(self, raw: np.ndarray, smoothed: bool) -> Lod:
        """The min/max pyramid of the smoothed or raw finite values, brought up to date."""
        if smoothed:
            lod, values = self.lod_smooth, self.smoothed.view()
            lod.extend(values[lod.n :])
        else:
            lod = self.lod_raw
            lod.extend(self.finite_values(raw, lod.n, self.n_finite))
        return lod


def index_range(view: tuple, cache: SeriesCache, x_all: np.ndarray) -> tuple[int, int]:
    """The finite points of a series to draw for `view`: all of them when the view follows the
    latest ((), or (width,)), else, for (width, x_lo, x_hi), those in view plus one view width
    either side (so a pan shows lines before the next redraw) and one point more each way (so the
    lines reach the edges). Indices among the finite points; `x_all` is every point's x."""
    n = cache.n_finite
    if len(view) < 3:
        return 0, n
    lo, hi = view[1], view[2]
    span = hi - lo
    a = int(np.searchsorted(x_all, lo - span, side="left"))
    b = int(np.searchsorted(x_all, hi + span, side="right"))
    if cache.finite is not None:
        index = cache.finite.view()
        a, b = int(np.searchsorted(index, a)), int(np.searchsorted(index, b))
    return max(0, a - 1), min(n, b + 1)


def curve_data(
    view: tuple,
    cache: SeriesCache,
    x_all: np.ndarray,
    raw: np.ndarray,
    i0: int,
    i1: int,
    smoothed: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """x and y for one curve: the finite points i0..i1-1 as they are (views of the buffers when
    possible), or when there are more than LOD_DIRECT_POINTS, the min and max of each of about one
    bucket per pixel column (`view[0]` columns wide), from the series' pyramid."""
    finite = cache.finite.view() if cache.finite is not None else None
    if smoothed:
        smooth = cache.smoothed.view()
        values: Callable[[int, int], np.ndarray] = lambda a, b: smooth[a:b]  # noqa: E731
    else:
        values = lambda a, b: cache.finite_values(raw, a, b)  # noqa: E731
    if i1 - i0 <= LOD_DIRECT_POINTS:
        return (x_all[i0:i1] if finite is None else x_all[finite[i0:i1]]), values(i0, i1)
    width = view[0] if len(view) == 1 else 3 * view[0]  # the margins hold two more views
    starts, mins, maxs = cache.pyramid(raw, smoothed).buckets(values, i0, i1, width)
    xs = x_all[starts] if finite is None else x_all[finite[starts]]
    return np.repeat(xs, 2), np.column_stack([mins, maxs]).ravel()


def sticky_range(
    current: tuple[float, float] | None,
    data: tuple[float, float],
    padding: float,
    headroom: tuple[float, float] = (FOLLOW_HEADROOM, FOLLOW_HEADROOM),
) -> tuple[float, float]:
    """The range an axis that follows the data shows, for data spanning `data` (lo, hi) and a margin
    of `padding` times its span each side (pyqtgraph's): the range it shows now, `current`, while
    every point is in it with at least half the margin and at most twice the headroom is empty;
    else the data with its margin, plus `headroom` (lo side, hi side) times its span on a side
    the data went past (so the next points of a growing run fit without a new range)."""
    a, b = float(data[0]), float(data[1])
    span = b - a
    if current is None or not (math.isfinite(span) and span > 0.0):
        return a, b
    c0, c1 = float(current[0]), float(current[1])
    pad = padding * span
    past_lo, past_hi = a - pad / 2 < c0, b + pad / 2 > c1
    loose = (c1 - c0) > span + 2 * pad + 2 * max(headroom) * span * (1.0 + 1e-9)
    if not (past_lo or past_hi or loose):
        return c0, c1
    return a - pad - (headroom[0] * span if past_lo else 0.0), b + pad + (
        headroom[1] * span if past_hi else 0.0
    )


def distance_to_polyline(x: np.ndarray, y: np.ndarray) -> float:
    """The distance from the origin to the polyline through the points (x, y); inf if none is finite."""
    ok = np.isfinite(x) & np.isfinite(y)
    if len(x) == 1 or not ok.any():
        return float(np.hypot(x, y)[ok].min()) if ok.any() else float("inf")
    x0, y0, dx, dy = x[:-1], y[:-1], np.diff(x), np.diff(y)
    length2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(length2 > 0, -(x0 * dx + y0 * dy) / length2, 0.0), 0.0, 1.0)
    d = np.hypot(x0 + t * dx, y0 + t * dy)
    d = d[np.isfinite(d)]
    points = np.hypot(x, y)[ok]  # a lone finite point between gaps is a curve too
    return float(min(d.min() if len(d) else np.inf, points.min()))


class SeriesCaches:
    """Each stat's SeriesCache for one History, all dropped when the History's revision says that
    points were removed or rewritten (a rollback, a metric merged in, another run adopted) rather
    than appended."""

    def __init__(self) -> None:
        self._caches: dict[str, SeriesCache] = {}
        self._revision: int | None = None

    def get(self, key: str, revision: int) -> SeriesCache:
        """`key`'s cache, valid for a History at `revision`."""
        if revision != self._revision:
            self._caches.clear()
            self._revision = revision
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = SeriesCache()
        return cache

    def clear(self) -> None:
        self._caches.clear()
        self._revision = None
