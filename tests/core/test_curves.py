"""The numbers behind a live curve (ganstudio.core.curves): TensorBoard's smoothing in chunks, the
min/max pyramid, and the smoothing preload. Qt-free."""

from __future__ import annotations

import math

import numpy as np

from ganstudio.core.curves import Lod, ema_debiased


def reference_ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing, the obvious way: one value at a time, non-finite values skipped."""
    out, last, count = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight**count))
    return np.array(out)


def test_ema_chunks_equal_one_pass():
    rng = np.random.default_rng(3)
    x = rng.normal(size=10_000)
    whole, _, _ = ema_debiased(x, 0.99)
    a, state, count = ema_debiased(x[:3333], 0.99)
    b, _, _ = ema_debiased(x[3333:], 0.99, state, count)
    np.testing.assert_allclose(np.concatenate([a, b]), whole, rtol=1e-12)
    np.testing.assert_allclose(whole, reference_ema(x, 0.99), rtol=1e-9)


def test_ema_keeps_every_term_after_a_spike():
    """One finite spike 1e14 times the rest fades exactly as TensorBoard's loop has it, in one pass
    or in the chunks the panel feeds (both code paths: a few points, and many)."""
    x = np.ones(3000)
    x[100] = 1e14
    for weight in (0.27, 0.6, 0.9, 0.99):
        want = reference_ema(x, weight)
        whole, _, _ = ema_debiased(x, weight)
        np.testing.assert_allclose(whole, want, rtol=1e-12, err_msg=f"weight {weight}")
        parts, state, count = [], 0.0, 0
        for a, b in zip([0, 1, 4, 90, 101, 104, 2000], [1, 4, 90, 101, 104, 2000, 3000], strict=True):
            part, state, count = ema_debiased(x[a:b], weight, state, count)
            parts.append(part)
        np.testing.assert_allclose(np.concatenate(parts), want, rtol=1e-12, err_msg=f"weight {weight}")


def test_lod_buckets_are_exact_min_max_over_any_range():
    rng = np.random.default_rng(3)
    values = rng.normal(size=200_003)
    lod = Lod()
    for chunk in np.array_split(values, 37):  # extended piece by piece, as training logs
        lod.extend(chunk)
    assert lod.n == len(values) and len(lod.levels) >= 4
    get = lambda a, b: values[a:b]  # noqa: E731
    for i0, i1, count in [(0, len(values), 500), (12_345, 150_000, 300), (7, 9000, 1000), (5, 60, 10)]:
        starts, mins, maxs = lod.buckets(get, i0, i1, count)
        assert starts[0] == i0 and np.all(np.diff(starts) > 0)
        assert len(starts) <= count + 2
        ends = np.append(starts[1:], i1)
        np.testing.assert_array_equal(mins, [values[a:b].min() for a, b in zip(starts, ends, strict=True)])
        np.testing.assert_array_equal(maxs, [values[a:b].max() for a, b in zip(starts, ends, strict=True)])


def test_the_smoothing_preload_survives_an_import_that_races_torchs(monkeypatch):
    """Start pressed while scipy.signal was preloading: scipy looked at a half-imported torch and
    the preload thread died with a traceback (seen running the app). It tries again instead."""
    import ganstudio.core.curves as plots_module

    calls: list[str] = []

    def flaky_import(name: str):
        calls.append(name)
        if len(calls) < 3:
            raise AttributeError("partially initialized module 'torch' has no attribute 'Tensor'")

    monkeypatch.setattr(plots_module.importlib, "import_module", flaky_import)
    monkeypatch.setattr(plots_module.time, "sleep", lambda _s: None)
    plots_module._preload()  # no exception escapes the thread's target
    assert calls == [plots_module.SMOOTHING_MODULE] * 3
    calls.clear()
    monkeypatch.setattr(plots_module.importlib, "import_module", lambda name: calls.append(name) or 1 / 0)
    plots_module._preload()  # gives up quietly after PRELOAD_TRIES: the first smoothed curve says why
    assert len(calls) == plots_module.PRELOAD_TRIES
