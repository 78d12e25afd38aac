"""The one rasteriser of 2D points (core/image.py), which the samples panel's export and the run
folder's scatter PNG both use."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from ganstudio.core.image import SCATTER_REFERENCE_RGB, SCATTER_SAMPLES_RGB, rasterise_points, scatter_png

RED, GREEN = (255, 0, 0), (0, 160, 0)
EXTENT = (0.0, 10.0, -5.0, 5.0)  # (xmin, xmax, ymin, ymax)


def _coloured(image: np.ndarray, colour) -> set[tuple[int, int]]:
    rows, cols = np.nonzero((image == colour).all(axis=2))
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_points_land_with_x_to_the_right_and_y_up():
    corners = np.array([[0.0, -5.0], [10.0, 5.0], [5.0, 0.0]])  # bottom left, top right, centre
    image = rasterise_points([(corners, RED, 1)], EXTENT, 11)
    assert image.shape == (11, 11, 3) and image.dtype == np.uint8
    assert _coloured(image, RED) == {(10, 0), (0, 10), (5, 5)}
    assert (image[0, 0] == 255).all()  # the rest is white


def test_dots_are_squares_of_their_side_and_later_layers_draw_above():
    centre = np.array([[5.0, 0.0]])
    image = rasterise_points([(centre, RED, 3), (centre, GREEN, 1), (None, RED, 9)], EXTENT, 11)
    assert _coloured(image, GREEN) == {(5, 5)}
    assert _coloured(image, RED) == {(r, c) for r in (4, 5, 6) for c in (4, 5, 6)} - {(5, 5)}


def test_what_falls_outside_and_non_finite_points_are_left_out():
    points = np.array([[20.0, 0.0], [np.nan, 0.0], [5.0, np.inf], [10.0, 0.0]])
    image = rasterise_points([(points, RED, 3)], EXTENT, 11)
    # Only the point on the right edge, and only the part of its dot inside the picture.
    assert _coloured(image, RED) == {(r, 10) for r in (4, 5, 6)} | {(r, 9) for r in (4, 5, 6)}
    assert (rasterise_points([(np.empty((0, 2)), RED, 3)], EXTENT, 5) == 255).all()


def test_scatter_png_draws_samples_above_the_reference_around_the_origin():
    samples = np.array([[1.0, 1.0]], dtype=np.float32)
    reference = np.array([[1.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
    pixels = np.asarray(scatter_png(samples, reference, size=45))
    lim = 1.1  # the farthest coordinate, and a tenth more
    expected = rasterise_points(
        [(reference, SCATTER_REFERENCE_RGB, 3), (samples, SCATTER_SAMPLES_RGB, 3)], (-lim, lim, -lim, lim), 45
    )
    np.testing.assert_array_equal(pixels, expected)
    assert (
        len(_coloured(pixels, SCATTER_SAMPLES_RGB)) == 9
        and len(_coloured(pixels, SCATTER_REFERENCE_RGB)) == 9
    )


def test_the_app_imports_it_without_torch():
    code = "import sys, ganstudio.core.image; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
