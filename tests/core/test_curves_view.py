"""What a plot hands pyqtgraph for a view (ganstudio.core.curves): the index range to draw, every
point or the min/max of each pixel column, the caches a rewritten history drops, the one growable
buffer, the range an axis that follows the data shows, and a curve's distance from the mouse.
Qt-free."""

from __future__ import annotations

import math

import numpy as np
from pytest import approx

from ganstudio.core.curves import (
    LOD_DIRECT_POINTS,
    Growable,
    SeriesCache,
    SeriesCaches,
    curve_data,
    distance_to_polyline,
    index_range,
    sticky_range,
)


def cached(raw: np.ndarray, weight: float = 0.0) -> SeriesCache:
    cache = SeriesCache()
    cache.update(raw, weight)
    return cache


def test_growable_doubles_keeps_what_was_written_and_clears():
    g = Growable(np.int64, capacity=4)
    for chunk in (np.arange(3), np.arange(3, 10), np.arange(10, 11)):
        g.extend(chunk)
    np.testing.assert_array_equal(g.view(), np.arange(11))
    assert len(g.data) >= 11
    capacity = len(g.data)
    g.clear()
    assert len(g.view()) == 0 and len(g.data) == capacity
    g.extend(np.array([7]))
    assert g.view().tolist() == [7]


def test_index_range_follows_everything_or_a_view_with_a_margin():
    x = np.arange(1000.0) * 10
    cache = cached(np.ones(1000))
    assert index_range((), cache, x) == (0, 1000) == index_range((500,), cache, x)
    a, b = index_range((500, 4000.0, 5000.0), cache, x)  # a view width either side, one point more
    assert x[a] <= 3000.0 and x[b - 1] >= 6000.0 and b - a <= 305


def test_index_range_counts_finite_points_only():
    raw = np.ones(1000)
    raw[::2] = math.nan
    cache = cached(raw)
    x = np.arange(1000.0)
    a, b = index_range((500, 400.0, 500.0), cache, x)
    finite = cache.finite.view()
    assert b <= cache.n_finite and x[finite[a]] <= 300.0 and x[finite[b - 1]] >= 600.0


def test_curve_data_is_every_point_when_short_and_the_min_max_per_column_when_long():
    rng = np.random.default_rng(0)
    short = rng.normal(size=100)
    x = np.arange(100.0)
    xs, ys = curve_data((), cached(short), x, short, 0, 100, smoothed=False)
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, short)

    n = 50 * LOD_DIRECT_POINTS
    long = rng.normal(size=n)
    x = np.arange(n, dtype=np.float64)
    xs, ys = curve_data((400,), cached(long), x, long, 0, n, smoothed=False)
    assert len(ys) <= 2 * (400 + 2) and len(xs) == len(ys)
    assert ys.min() == long.min() and ys.max() == long.max()
    assert np.all(np.diff(xs) >= 0)


def test_series_caches_are_dropped_when_the_revision_changes():
    caches = SeriesCaches()
    a = caches.get("loss", revision=0)
    assert caches.get("loss", revision=0) is a
    assert caches.get("loss", revision=1) is not a
    b = caches.get("loss", revision=1)
    caches.clear()
    assert caches.get("loss", revision=1) is not b


def test_distance_to_polyline():
    x, y = np.array([-1.0, 1.0]), np.array([2.0, 2.0])
    assert distance_to_polyline(x, y) == 2.0  # to the segment, not to its ends
    assert distance_to_polyline(np.array([3.0]), np.array([4.0])) == 5.0
    assert distance_to_polyline(np.array([math.nan, 1.0, math.nan]), np.array([0.0, 0.0, 0.0])) == 1.0
    assert distance_to_polyline(np.array([math.nan]), np.array([1.0])) == math.inf


def test_a_following_axis_keeps_its_range_while_the_data_fits_and_grows_with_headroom_past_it():
    both = (0.1, 0.1)
    assert sticky_range(None, (0.0, 100.0), 0.05, both) == (0.0, 100.0)  # nothing shown yet
    assert sticky_range((-5.0, 115.0), (0.0, 105.0), 0.05, both) == (-5.0, 115.0)  # fits: kept
    # A new point past the range (less half the margin): the data, its margin, and 10% of its span
    # free on the side it grew.
    assert sticky_range((-5.0, 115.0), (0.0, 113.0), 0.05, both) == approx((-5.65, 129.95))
    assert sticky_range((-5.0, 115.0), (0.0, 120.0), 0.05, both) == approx((-6.0, 138.0))
    assert sticky_range((-1.0, 2.0), (-3.0, 2.0), 0.0, both) == approx((-3.5, 2.0))
    assert sticky_range((-1.0, 2.0), (-3.0, 3.0), 0.0, both) == approx((-3.6, 3.6))  # both sides
    assert sticky_range((-1.0, 2.0), (-3.0, 3.0), 0.0, (0.0, 0.1)) == approx((-3.0, 3.6))  # one side only
    # A run growing to the right moves the margin's left end too, but by little: kept there.
    assert sticky_range((-5.0, 140.0), (0.0, 130.0), 0.05, both) == (-5.0, 140.0)
    # Too loose (more than twice the headroom empty: another run, a zoom out): fitted again.
    assert sticky_range((0.0, 1000.0), (0.0, 100.0), 0.0, both) == (0.0, 100.0)
    assert sticky_range((-50.0, 100.0), (0.0, 100.0), 0.0, both) == (0.0, 100.0)
    assert sticky_range((-10.0, 105.0), (0.0, 100.0), 0.0, both) == (-10.0, 105.0)  # 15% empty: kept
    # A single point (no span) or a range pyqtgraph cannot use is passed on as it is.
    assert sticky_range((0.0, 10.0), (5.0, 5.0), 0.05, both) == (5.0, 5.0)
    assert sticky_range((0.0, 10.0), (0.0, math.inf), 0.05, both) == (0.0, math.inf)
