"""The latent explorer's core (ganstudio.core.latent): interpolation, truncation, directions, the
generator rebuilt from a trainer or a checkpoint, comparisons, the 2D mesh and nearest real images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core import latent
from ganstudio.core.checkpoint.io import CheckpointError
from ganstudio.core.run.events import Samples
from tests.core.conftest import make_tiny_config, new_trainer, run_all

EMA = {"train.ema": 0.9}
# Fast learning rates: a few steps take the tiny G from a uniform grey to samples that differ.
QUICK = {**EMA, "optim.lr_g": 0.01, "optim.lr_d": 0.01}


def cell(grid: np.ndarray, i: int, side: int, nrow: int = 8) -> np.ndarray:
    """Sample i's image in a grid laid out by to_grid (1 px padding)."""
    r, c = divmod(i, nrow)
    y, x = 1 + r * (side + 1), 1 + c * (side + 1)
    return grid[y : y + side, x : x + side]


@pytest.fixture(scope="module")
def trained():
    """A digits trainer with the EMA on, trained a few steps so G and its EMA differ."""
    t = new_trainer(make_tiny_config(values=QUICK, steps=20))
    run_all(t)
    return t


# ----- latent arithmetic -----


@pytest.mark.parametrize("mode", latent.MODES)
def test_interpolation_ends_are_the_two_latents_exactly(mode):
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 100, generator=gen)
    z = latent.interpolate(a, b, 13, mode)
    assert z.shape == (13, 100)
    assert torch.equal(z[0], a) and torch.equal(z[-1], b)


def test_slerp_keeps_the_norm_where_a_line_cuts_the_corner():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    arc = latent.interpolate(a, b, 9, "slerp")
    line = latent.interpolate(a, b, 9, "linear")
    assert torch.allclose(arc.norm(dim=1), torch.full((9,), 3.0), atol=1e-5)
    assert line.norm(dim=1)[4] == pytest.approx(3.0 / math.sqrt(2), abs=1e-5)
    # Parallel vectors have no arc: the straight line, not NaN.
    same = latent.interpolate(a, 2 * a, 8, "slerp")
    assert torch.isfinite(same).all() and torch.allclose(same, latent.interpolate(a, 2 * a, 8, "linear"))


def test_interpolation_refuses_bad_frames_and_modes():
    a = torch.zeros(4)
    with pytest.raises(ValueError, match="8 to 64 frames, not 7"):
        latent.interpolate(a, a, 7)
    with pytest.raises(ValueError, match="8 to 64 frames, not 65"):
        latent.interpolate(a, a, 65)
    with pytest.raises(ValueError, match="'cubic' is not one of slerp, linear"):
        latent.interpolate(a, a, 8, "cubic")


def test_truncation_scales_towards_the_mean():
    z = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(latent.truncate(z, 1.0), z)
    assert torch.equal(latent.truncate(z, 0.0), torch.zeros_like(z))
    assert torch.allclose(latent.truncate(z, 0.5), z / 2)
    mean = torch.ones(7)
    assert torch.allclose(latent.truncate(z, 0.0, mean), mean.expand(5, 7))
    with pytest.raises(ValueError, match="finite"):
        latent.truncate(z, float("nan"))


def test_directions_are_unit_vectors_that_say_where_they_point():
    e = latent.axis_direction(5, 2)
    assert e.tolist() == [0, 0, 1, 0, 0]
    with pytest.raises(ValueError, match="latent dimension 5 is out of range for a 5-dimensional z"):
        latent.axis_direction(5, 5)
    r1, r1_again, r2 = (latent.random_direction(50, s) for s in (3, 3, 4))
    assert torch.equal(r1, r1_again) and not torch.equal(r1, r2)
    assert r1.norm() == pytest.approx(1.0)
    a, b = torch.zeros(3), torch.tensor([0.0, 4.0, 0.0])
    assert latent.between(a, b).tolist() == [0.0, 1.0, 0.0]
    assert latent.between(a, a).tolist() == [0.0, 0.0, 0.0]  # no direction, not NaN


def test_a_seed_names_the_same_latent_and_leaves_the_global_stream_alone():
    state = torch.get_rng_state()
    z = latent.z_from_seed(7, 16)
    assert torch.equal(z, latent.z_from_seed(7, 16)) and not torch.equal(z, latent.z_from_seed(8, 16))
    assert torch.equal(torch.get_rng_state(), state)


# ----- the generator, rebuilt -----


def test_the_explorers_grid_is_the_trainers_samples_grid(trained):
    ex = latent.Explorer(latent.weights_of(trained))
    assert ex.has_ema and ex.step == trained.step
    assert np.array_equal(ex.grid(), trained.samples().grid)
    # Truncation 0: every latent is the mean, every sample the same image.
    flat = ex.grid(psi=0.0)
    side = trained.data.shape[-1]
    first = cell(flat, 0, side)
    assert all(np.array_equal(cell(flat, i, side), first) for i in range(64))
    out = ex.generate(ex.fixed_noise[:2])
    assert not torch.equal(out[0], out[1])
    flat_out = ex.generate(latent.truncate(ex.fixed_noise[:2], 0.0))
    assert torch.equal(flat_out[0], flat_out[1])


def test_a_strips_end_frames_are_the_picked_samples(trained):
    ex = latent.Explorer(latent.weights_of(trained))
    grid, side = ex.grid(), trained.data.shape[-1]
    strip = ex.strip(ex.latent(("sample", 3)), ex.latent(("sample", 40)), 10, "slerp")
    assert len(strip.frames) == 10 and strip.z.shape == (10, 16)
    # Up to one grey level: BLAS may round a batch of 10 and one of 64 differently.
    for frame, i in ((strip.frames[0], 3), (strip.frames[-1], 40)):
        assert np.abs(frame.astype(int) - cell(grid, i, side).astype(int)).max() <= 1
    assert strip.image.shape == (side + 2, 10 * (side + 1) + 1, 1)


def test_a_walk_moves_every_latent_by_the_same_offset(trained):
    ex = latent.Explorer(latent.weights_of(trained))
    picks = [("sample", 0), ("sample", 1)]
    off = ex.offset([("axis", 2, 1.5), ("random", 9, 0.0), ("between", 0, 2.0)], picks)
    expected = 1.5 * latent.axis_direction(16, 2) + 2.0 * latent.between(ex.fixed_noise[0], ex.fixed_noise[1])
    assert torch.allclose(off, expected)
    assert not np.array_equal(ex.grid(offset=off), ex.grid())
    with pytest.raises(ValueError, match="two picked samples"):
        ex.offset([("between", 0, 1.0)], picks[:1])
    with pytest.raises(ValueError, match="sample 64 is not in the fixed-noise batch of 64"):
        ex.latent(("sample", 64))


def test_weights_from_a_checkpoint_are_the_trainers(trained, tmp_path):
    path = tmp_path / "ck.pt"
    trained.save_checkpoint(path)
    a, b = latent.weights_of(trained), latent.weights_from_checkpoint(path)
    assert b.step == a.step and b.shape == a.shape and b.source == "checkpoint ck.pt"
    for name in ("g", "g_ema"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert np.array_equal(a.fixed_noise, b.fixed_noise)
    assert np.array_equal(latent.Explorer(b).grid(), latent.Explorer(a).grid())
    with pytest.raises(CheckpointError, match="missing.pt"):
        latent.weights_from_checkpoint(tmp_path / "missing.pt")


def test_weights_that_do_not_fit_are_refused_by_name(trained):
    w = latent.weights_of(trained)
    bad = latent.GeneratorWeights(w.config, (1, 16, 16), w.g, None, w.fixed_noise, w.step)
    fit = r"G weights do not fit model.arch = 'mlp' for samples of shape \(1, 16, 16\)"
    with pytest.raises(ValueError, match=fit):
        latent.Explorer(bad)


def test_g_beside_its_ema_and_truncated_with_difference_maps(trained):
    ex = latent.Explorer(latent.weights_of(trained))
    z = ex.fixed_noise[:4]
    cmp = ex.compare(z, psi=0.5)
    assert list(cmp.columns) == ["G", "EMA", latent.TRUNCATED, "|G − EMA|", f"|G − {latent.TRUNCATED}|"]
    side = trained.data.shape[-1]
    assert cmp.columns["G"].shape == (4 * (side + 1) + 1, side + 2, 1)
    assert not np.array_equal(cmp.columns["G"], cmp.columns["EMA"])
    assert np.array_equal(cmp.columns["EMA"][1 : 1 + side, 1 : 1 + side], cell(ex.grid(), 0, side))
    assert cmp.scales["|G − EMA|"] > 0
    assert cmp.legends["|G − EMA|"].startswith("black 0, white ")
    # psi = 1 truncates nothing: the map is black and says so.
    same = ex.compare(z, psi=1.0)
    assert same.scales[f"|G − {latent.TRUNCATED}|"] == 0
    assert same.columns[f"|G − {latent.TRUNCATED}|"][1:-1, 1:-1].max() == 0
    assert same.legends[f"|G − {latent.TRUNCATED}|"] == "ψ = 1 truncates nothing: no difference"
    assert "white" not in same.legends[f"|G − {latent.TRUNCATED}|"]


def map_and_legend(difference: float, other: str = "EMA") -> tuple[np.ndarray, str]:
    """The grey map (uint8, as drawn) and legend of G against an `other` that differs from it by
    `difference` at one pixel of one sample, and not at all elsewhere."""
    from ganstudio.core.image import to_grid

    g = torch.zeros(2, 1, 4, 4)
    o = g.clone()
    o[1, 0, 2, 3] = difference
    diff, scale = latent.difference_map(g, o)
    return to_grid(diff, nrow=1)[:, :, 0], latent.difference_legend(other, scale)


@pytest.mark.parametrize(
    ("difference", "white", "legend"),
    [
        (0.0, None, "G and its EMA agree here: no difference"),
        (1e-4, 255, "black 0, white 0.013 of 255 levels: too small to see in the samples"),
        (0.5, 255, "black 0, white 63.8 of 255 levels"),
        (2.0, 255, "black 0, white 255 of 255 levels"),
    ],
)
def test_a_difference_maps_legend_says_what_its_black_and_white_are(difference, white, legend):
    image, text = map_and_legend(difference)
    assert text == legend
    # The map is what the legend says: black where they agree, white at the largest difference.
    inner = image[1:-1, 1:-1]
    assert np.count_nonzero(inner) == (0 if white is None else 1)
    if white is not None:
        assert inner.max() == white


def test_a_difference_that_is_not_a_number_is_named_not_mapped():
    image, text = map_and_legend(math.nan)
    assert text == "no map: G or its EMA outputs NaN or infinity (the run diverged)"
    assert image.max() == 0
    _, text = map_and_legend(math.inf, latent.TRUNCATED)
    assert text.startswith("no map: G or G_ψ outputs NaN or infinity")
    assert latent.difference_legend(latent.TRUNCATED, 0.0, psi=0.7) == "G and G_ψ agree here: no difference"


def test_without_ema_there_is_no_ema_column():
    t = new_trainer(make_tiny_config(steps=2))
    cmp = latent.Explorer(latent.weights_of(t)).compare(t.fixed_noise[:2], 0.7)
    assert list(cmp.columns) == ["G", latent.TRUNCATED, f"|G − {latent.TRUNCATED}|"]


def test_the_manifold_mesh_is_g_on_a_regular_latent_grid():
    t = new_trainer(make_tiny_config("ring8", {"model.latent_dim": 2}, steps=2))
    ex = latent.Explorer(latent.weights_of(t))
    assert ex.grid().shape == (1024, 2)
    mesh = ex.manifold(resolution=5, span=2.0)
    assert mesh.shape == (5, 5, 2)
    # Row i is the line at the i-th value of z[1]; column j at the j-th of z[0].
    z = torch.tensor([[-2.0, 1.0]])  # j = 0, i = 3
    assert np.allclose(mesh[3, 0], ex.generate(z).numpy()[0], atol=1e-6)
    cmp = ex.compare(ex.fixed_noise[:10], 0.5)
    assert cmp.points["G"].shape == (10, 2) and not cmp.columns
    with pytest.raises(ValueError, match="for 2D data"):
        latent.Explorer(latent.weights_of(new_trainer(make_tiny_config(steps=2)))).manifold()


# ----- nearest real images -----


def test_nearest_real_images_in_pixels_and_features(trained):
    index = latent.RealIndex(trained.cfg, trained.data)
    picked = [5, 321, 1000]
    for space, name in (("pixels", "pixels"), ("features", "classifier")):
        found = index.nearest(trained.data.x[picked], k=4, space=space)
        assert found.space == name and found.indices.shape == (3, 4)
        assert found.indices[:, 0].tolist() == picked  # a real image is its own nearest
        assert np.allclose(found.distances[:, 0], 0, atol=1e-3)
        assert (np.diff(found.distances, axis=1) >= 0).all()
    with pytest.raises(ValueError, match=r"samples have shape \(1, 4, 4\), the real data \(1, 8, 8\)"):
        index.nearest(torch.zeros(1, 1, 4, 4))


# ----- export -----


def test_a_strip_exports_as_png_and_an_animated_gif(trained, tmp_path):
    ex = latent.Explorer(latent.weights_of(trained))
    strip = ex.strip(ex.latent(("seed", 1)), ex.latent(("seed", 2)), 8, "linear")
    latent.save_png(strip.image, tmp_path / "s.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png"))[..., None], strip.image)
    latent.save_gif(strip.frames, tmp_path / "s.gif", min_side=32)
    gif = Image.open(tmp_path / "s.gif")
    # Pillow merges a frame identical to the one before into it (with both durations): the
    # animation is the same, and its distinct frames are the strip's, in order.
    distinct = [f for i, f in enumerate(strip.frames) if i == 0 or not np.array_equal(f, strip.frames[i - 1])]
    assert gif.n_frames == len(distinct) >= 4 and gif.size == (32, 32)
    for i, frame in enumerate(distinct):
        gif.seek(i)
        assert np.array_equal(np.asarray(gif.convert("L"))[::4, ::4], frame[:, :, 0])
    with pytest.raises(OSError, match="Could not write .*Choose another folder"):
        latent.save_gif(strip.frames, tmp_path / "no-such-folder" / "s.gif")


# ----- the trainer's side -----


def test_samples_carry_the_generator_only_when_asked_and_training_is_the_same():
    plain = new_trainer(make_tiny_config(values=EMA, steps=6, sample_every=2))
    shared = new_trainer(make_tiny_config(values=EMA, steps=6, sample_every=2))
    shared.share_generator = True
    a = [e for e in run_all(plain) if isinstance(e, Samples)]
    b = [e for e in run_all(shared) if isinstance(e, Samples)]
    assert all(e.generator is None for e in a)
    assert [e.step for e in b] == [e.step for e in a] and all(e.generator is not None for e in b)
    last = b[-1].generator
    assert last.step == shared.step and last.g_ema is not None
    for k, v in shared.G_ema.state_dict().items():
        assert np.array_equal(last.g_ema[k], v.numpy())
    # Watching changes nothing: the same weights, bit for bit.
    for k, v in plain.G.state_dict().items():
        assert torch.equal(v, shared.G.state_dict()[k])
    assert np.array_equal(b[-1].grid, a[-1].grid)


@pytest.mark.parametrize("kind", ["dcgan", "ring8"])
def test_every_arch_is_rebuilt_as_the_trainer_has_it(kind):
    t = new_trainer(make_tiny_config(kind, steps=2))
    run_all(t)
    ex = latent.Explorer(latent.weights_of(t))
    expected = t.samples()
    if kind == "ring8":
        assert np.array_equal(ex.grid(), expected.points)
    else:
        assert np.array_equal(ex.grid(), expected.grid)
