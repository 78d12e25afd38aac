"""The latent explorer's computations: what a run's generator does across its latent space.

Qt-free, on the CPU, on a copy of the generator: training is never touched. A `GeneratorWeights`
(plain data: numpy state_dicts, the config, the fixed noise) comes from a trainer (`weights_of`,
taken where the trainer makes its samples) or from a checkpoint file (`weights_from_checkpoint`);
an `Explorer` rebuilds the generator from it and answers:

- `grid`: the fixed-noise batch through G, truncated towards the mean and walked along a
  direction (the samples grid's cell i is G(fixed_noise[i]), so a click there picks a z);
- `strip`: an interpolation between two latents (spherical or linear), 8 to 64 frames;
- `compare`: G, its EMA and G on truncated z side by side, with per-pixel difference maps;
- `manifold`: for the 2D toys, the image of a regular latent grid (GAN Lab's warped mesh).

`RealIndex` finds a sample's nearest real images in the metrics' feature space (the classifier's
penultimate layer, or the random projection for image folders: see metrics/evaluator.py) and in
pixels, so memorisation is visible. Nothing here draws from torch's or numpy's global random
generators (a run's checkpoint records those).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import Config, is_2d, resolved_image_shape
from ganstudio.core.data import Dataset
from ganstudio.core.metrics.background import cpu_generator
from ganstudio.core.models import conditional, provenance, user

MODES = ("slerp", "linear")
MIN_FRAMES, MAX_FRAMES = 8, 64
CHUNK = 1024  # latents per generator forward: bounds the memory of a big request
NEAREST_CHUNK = 4096  # real samples per distance block
TRUNCATED = "G_ψ"  # the comparison's name for G on truncated latents
LEVEL = 2 / 255  # one of a sample image's 255 grey levels, in the generator's [-1, 1] units

#: A pick: ("sample", i), the i-th vector of the run's fixed noise (the samples grid's cell i), or
#: ("seed", s), the latent drawn from a generator seeded with s.
Pick = tuple[str, int]


# ----- the generator, as plain data ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GeneratorWeights:
    """A run's generator as plain data that may cross threads: numpy state_dicts, never modules.

    `g_ema` is the EMA generator's state when `train.ema` is on (then it is what the samples show),
    else None. `fixed_noise` is the run's (n, latent_dim) sample noise."""

    config: Config
    shape: tuple[int, ...]  # one sample: (C, H, W) or (2,)
    g: dict[str, np.ndarray]
    g_ema: dict[str, np.ndarray] | None
    fixed_noise: np.ndarray
    step: int
    source: str = ""  # what it was taken from, for people: "run", "checkpoint latest.pt", ...
    # Your own model's file (core.models.user.ModelRef, plain data), for model.arch = FILE.py:FUNCTION.
    model: Any = None


def _numpy_state(module_or_state: nn.Module | dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    return {k: v.detach().to("cpu", copy=True).numpy() for k, v in state.items()}


def weights_of(trainer: Any, source: str = "run") -> GeneratorWeights:
    """A copy of a trainer's generator (and EMA) on the CPU. Cost: one copy of G's weights, so the
    trainer calls it only while someone explores (`Trainer.samples`)."""
    ema = trainer.G_ema if (trainer.G_ema is not None and trainer.cfg.train.ema > 0) else None
    return GeneratorWeights(
        config=trainer.cfg,
        shape=tuple(trainer.data.shape),
        g=_numpy_state(trainer.G),
        g_ema=_numpy_state(ema) if ema is not None else None,
        fixed_noise=trainer.fixed_noise.detach().cpu().numpy().copy(),
        step=int(trainer.step),
        source=source,
        model=getattr(trainer, "model_ref", None),
    )


def sample_shape(cfg: Config) -> tuple[int, ...]:
    """The shape of one generated sample for a config, without loading the data."""
    return (2,) if is_2d(cfg) else resolved_image_shape(cfg.data)


def weights_from_checkpoint(path: str | Path) -> GeneratorWeights:
    """The generator saved in a checkpoint file. Raises CheckpointError with a readable message."""
    path = Path(path)
    ckpt = checkpoints.load(path)
    cfg = checkpoints.config_of(ckpt)
    models = ckpt["models"]
    ema = models.get("G_ema") if cfg.train.ema > 0 else None
    return GeneratorWeights(
        config=cfg,
        shape=sample_shape(cfg),
        g=_numpy_state(models["G"]),
        g_ema=_numpy_state(ema) if ema else None,
        fixed_noise=ckpt["fixed_noise"].float().numpy().copy(),
        step=int(ckpt["step"]),
        source=f"checkpoint {path.name}",
        model=provenance.recorded(ckpt),
    )


# ----- latent arithmetic ------------------------------------------------------------------------


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(m, d) points on the straight line from z0 to z1 at fractions t (m,)."""
    t = t.to(torch.float64)[:, None]
    return ((1 - t) * z0.double() + t * z1.double()).to(z0.dtype)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(m, d) points on the great-circle arc from z0 to z1 (White 2016): for Gaussian latents the
    midpoints keep a typical norm, where a straight line passes through improbably short ones.
    Nearly parallel or opposite vectors fall back to the straight line."""
    a, b = z0.double(), z1.double()
    na, nb = a.norm(), b.norm()
    if na < 1e-12 or nb < 1e-12:
        return lerp(z0, z1, t)
    cos = torch.clamp((a / na) @ (b / nb), -1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    if so < 1e-6:
        return lerp(z0, z1, t)
    t = t.to(torch.float64)[:, None]
    return ((torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b).to(z0.dtype)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, frames: int, mode: str = "slerp") -> torch.Tensor:
    """`frames` latents from z0 to z1 inclusive; the ends are z0 and z1 exactly."""
    if mode not in MODES:
        raise ValueError(f"interpolation mode {mode!r} is not one of {', '.join(MODES)}")
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise ValueError(f"an interpolation has {MIN_FRAMES} to {MAX_FRAMES} frames, not {frames}")
    t = torch.linspace(0.0, 1.0, frames, dtype=torch.float64)
    z = (slerp if mode == "slerp" else lerp)(z0, z1, t)
    # Set, not computed: the strip's ends must be the picked samples whatever the rounding.
    z[0], z[-1] = z0, z1
    return z


def truncate(z: torch.Tensor, psi: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """The truncation trick: z moved towards the mean (the prior's, 0, by default) by psi.
    psi = 1 leaves z as it is; psi = 0 maps every z to the mean, so every sample is the same."""
    if not math.isfinite(psi):
        raise ValueError(f"truncation psi must be a finite number, not {psi}")
    m = torch.zeros_like(z) if mean is None else mean.to(z.dtype).expand_as(z)
    return m + psi * (z - m)


def unit(v: torch.Tensor) -> torch.Tensor:
    n = v.norm()
    return v / n if n > 0 else torch.zeros_like(v)


def axis_direction(latent_dim: int, i: int) -> torch.Tensor:
    """The unit vector along latent dimension i."""
    if not 0 <= i < latent_dim:
        raise ValueError(f"latent dimension {i} is out of range for a {latent_dim}-dimensional z")
    e = torch.zeros(latent_dim)
    e[i] = 1.0
    return e


def random_direction(latent_dim: int, seed: int) -> torch.Tensor:
    """A unit vector in a uniformly random direction, the same for the same seed."""
    gen = torch.Generator().manual_seed(int(seed))
    return unit(torch.randn(latent_dim, generator=gen))


def between(z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """The unit vector from z0 towards z1 (zero when they coincide)."""
    return unit(z1 - z0)


def z_from_seed(seed: int, latent_dim: int) -> torch.Tensor:
    """The latent a seed names: N(0, I) drawn from a generator of its own."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(latent_dim, generator=gen)


# ----- images -----------------------------------------------------------------------------------


def to_image(sample: torch.Tensor) -> np.ndarray:
    """One (C, H, W) sample in [-1, 1] -> HxWxC uint8, rounded as the sample grids are."""
    x = sample.detach().float().clamp(-1, 1).add(1).mul(127.5)
    return x.add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def to_strip(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) -> one row, as the sample grids are laid out (1 px dark padding)."""
    from ganstudio.core.image import to_grid

    return to_grid(images, nrow=len(images))


def difference_map(a: torch.Tensor, b: torch.Tensor, scale: float | None = None) -> tuple[np.ndarray, float]:
    """Per-pixel |a - b| of (N, C, H, W) images, averaged over channels, as (N, 1, H, W) in [-1, 1]
    for the grid helpers: white is `scale` (default: the largest difference, so small ones show)
    and black none. Returns (the images, the scale)."""
    d = (a.float() - b.float()).abs().mean(dim=1, keepdim=True)
    peak = float(d.max()) if d.numel() else 0.0
    scale = scale if scale is not None else peak
    shown = d / scale if 0 < scale < math.inf else torch.zeros_like(d)  # NaN or inf: no map
    return shown.clamp(0, 1).mul(2).sub(1), scale


def difference_legend(other: str, scale: float, psi: float | None = None) -> str:
    """What a `difference_map` of G against `other` (EMA or TRUNCATED) with white at `scale`
    shows, in the samples' grey levels: its black and white, that its white is too small to see in
    the samples, or that there is nothing to map (all zero, or the outputs are not numbers)."""
    name = "its EMA" if other == "EMA" else other
    if not math.isfinite(scale):
        return f"no map: G or {name} outputs NaN or infinity (the run diverged)"
    if scale <= 0:
        if other == TRUNCATED and psi == 1:
            return "ψ = 1 truncates nothing: no difference"
        return f"G and {name} agree here: no difference"
    levels = scale / LEVEL
    if levels < 1:
        return f"black 0, white {levels:.2g} of 255 levels: too small to see in the samples"
    return f"black 0, white {levels:.3g} of 255 levels"


def save_png(image: np.ndarray, path: str | Path) -> None:
    """An HxWxC uint8 image as PNG; raises OSError with a readable message."""
    from PIL import Image

    try:
        Image.fromarray(_pil_ready(image)).save(path, format="PNG")
    except OSError as e:
        raise OSError(f"Could not write '{path}': {e.strerror or e}. Choose another folder or name.") from e


def save_gif(frames: Sequence[np.ndarray], path: str | Path, frame_ms: int = 80, min_side: int = 128) -> None:
    """The frames (HxWxC uint8 each) as a looping animated GIF, scaled up (nearest neighbour) so
    the smaller side is at least `min_side` px: an 8x8 digit is a smudge at its own size."""
    from PIL import Image

    if not frames:
        raise ValueError("There are no frames to export yet.")
    h, w = frames[0].shape[:2]
    k = max(1, math.ceil(min_side / max(1, min(h, w))))
    pil = [Image.fromarray(_pil_ready(f)).convert("RGB") for f in frames]
    if k > 1:
        pil = [p.resize((p.width * k, p.height * k), Image.Resampling.NEAREST) for p in pil]
    try:
        pil[0].save(path, format="GIF", save_all=True, append_images=pil[1:], duration=frame_ms, loop=0)
    except OSError as e:
        raise OSError(f"Could not write '{path}': {e.strerror or e}. Choose another folder or name.") from e


def _pil_ready(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return np.ascontiguousarray(image)


# ----- the explorer -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Strip:
    """An interpolation: `z` (frames, d); `frames`, one HxWxC uint8 image each (image data) or
    `points` (frames, 2) (2D data); `image`, the frames in one row."""

    z: np.ndarray
    frames: list[np.ndarray] | None = None
    image: np.ndarray | None = None
    points: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Comparison:
    """The same latents through G, its EMA and G on truncated latents. Image data: `columns` maps a
    title to a one-column image (a row per latent), difference maps included, `scales` each
    difference map's white value and `legends` what each map shows (`difference_legend`). 2D
    data: `points` maps a title to (n, 2) points."""

    columns: dict[str, np.ndarray]
    scales: dict[str, float]
    points: dict[str, np.ndarray]
    legends: dict[str, str] = field(default_factory=dict)


class Explorer:
    """A run's generator rebuilt on the CPU from `GeneratorWeights`, and what can be asked of it.

    The sampling generator (the EMA when train.ema is on, as in the samples) draws the grid, the
    strips and the nearest-real queries; `compare` shows both. Not thread-safe: one thread asks."""

    def __init__(self, weights: GeneratorWeights):
        self.weights = weights
        cfg = weights.config
        self.config = cfg
        self.shape = tuple(weights.shape)
        self.is_2d = len(self.shape) == 1
        self.latent_dim = cfg.model.latent_dim
        # model.conditional: the class count (from G's weights) and the class everything is drawn
        # for; the explorer's thread sets `label` before each request (same z, another class).
        self.num_classes = conditional.classes_in(weights.g)
        self.label = 0
        self.G = self._build(weights.g, "G")
        self.G_ema = self._build(weights.g_ema, "G_ema") if weights.g_ema is not None else None
        self.fixed_noise = torch.from_numpy(np.array(weights.fixed_noise, dtype=np.float32, copy=True))
        if self.fixed_noise.dim() != 2 or self.fixed_noise.shape[1] != self.latent_dim:
            raise ValueError(
                f"the fixed noise has shape {tuple(self.fixed_noise.shape)}; the generator "
                f"takes {self.latent_dim}-dimensional latents"
            )

    def _build(self, state: dict[str, np.ndarray], name: str) -> nn.Module:
        g = cpu_generator(self.config, self.shape, self._model_code(), self.num_classes)
        try:
            g.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in state.items()})
        except RuntimeError as e:
            detail = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
            raise ValueError(
                f"the {name} weights do not fit model.arch = {self.config.model.arch!r} "
                f"for samples of shape {self.shape}: {detail[:300]}"
            ) from None
        return g.eval()

    def _model_code(self) -> Any:
        """Your own model's file, when this process has imported it already: the explorer imports
        nothing itself (the app asks before a checkpoint's file is imported: user.load)."""
        ref = self.weights.model
        if ref is None:
            return None
        code = user.loaded(ref)
        if code is None:
            raise user.ModelCodeError(
                f"the generator comes from your model file {ref.path} (SHA-256 {ref.sha256[:12]}…), "
                "which has not been imported: open the run or checkpoint and allow it first"
            )
        return code

    @property
    def has_ema(self) -> bool:
        return self.G_ema is not None

    @property
    def sampling(self) -> nn.Module:
        return self.G_ema if self.G_ema is not None else self.G

    @property
    def step(self) -> int:
        return self.weights.step

    # ----- latents -----

    def latent(self, pick: Pick) -> torch.Tensor:
        """The raw latent a pick names."""
        kind, value = pick
        if kind == "sample":
            n = self.fixed_noise.shape[0]
            if not 0 <= value < n:
                raise ValueError(f"sample {value} is not in the fixed-noise batch of {n}")
            return self.fixed_noise[value].clone()
        if kind == "seed":
            return z_from_seed(value, self.latent_dim)
        raise ValueError(f"a pick is a sample or a seed, not {kind!r}")

    def direction(self, name: str, value: int = 0, picks: Sequence[Pick] = ()) -> torch.Tensor:
        """A unit walking direction: "axis" (latent dimension `value`), "random" (seeded by `value`)
        or "between" (from the first pick towards the second)."""
        if name == "axis":
            return axis_direction(self.latent_dim, value)
        if name == "random":
            return random_direction(self.latent_dim, value)
        if name == "between":
            if len(picks) < 2:
                raise ValueError("walking between picks needs two picked samples")
            return between(self.latent(picks[0]), self.latent(picks[1]))
        raise ValueError(f"unknown direction {name!r}")

    def offset(self, walk: Sequence[tuple[str, int, float]], picks: Sequence[Pick] = ()) -> torch.Tensor:
        """The sum of amount * direction over (name, value, amount) steps; zero for none."""
        total = torch.zeros(self.latent_dim)
        for name, value, amount in walk:
            if amount:
                total += float(amount) * self.direction(name, value, picks)
        return total

    def transform(
        self, z: torch.Tensor, psi: float = 1.0, offset: torch.Tensor | None = None
    ) -> torch.Tensor:
        """What the explorer shows for z: truncated by psi, then walked by `offset`."""
        z = truncate(z, psi)
        return z + offset if offset is not None else z

    # ----- generation -----

    @torch.no_grad()
    def generate(self, z: torch.Tensor, generator: nn.Module | None = None) -> torch.Tensor:
        """(n, *shape) samples of latents z (n, d) on the CPU, in eval mode."""
        g = generator if generator is not None else self.sampling
        z = z.reshape(-1, self.latent_dim).float()
        y = None if self.num_classes is None else torch.full((len(z),), self.label, dtype=torch.int64)
        return conditional.generate(g, z, y, CHUNK).float()

    def grid(self, psi: float = 1.0, offset: torch.Tensor | None = None) -> np.ndarray:
        """The fixed-noise batch as the explorer shows it: an HxWxC uint8 grid laid out as the
        samples grid (image data), or (n, 2) float32 points (2D data)."""
        out = self.generate(self.transform(self.fixed_noise, psi, offset))
        if self.is_2d:
            return out.numpy().astype(np.float32)
        from ganstudio.core.image import to_grid

        return to_grid(out)

    def strip(self, z0: torch.Tensor, z1: torch.Tensor, frames: int, mode: str = "slerp") -> Strip:
        """`frames` samples from z0 to z1 (inclusive)."""
        z = interpolate(z0, z1, frames, mode)
        out = self.generate(z)
        if self.is_2d:
            return Strip(z=z.numpy(), points=out.numpy().astype(np.float32))
        return Strip(z=z.numpy(), frames=[to_image(x) for x in out], image=to_strip(out))

    def compare(self, z: torch.Tensor, psi: float) -> Comparison:
        """Latents z (n, d) through G, G's EMA (if on) and G on truncated z, with difference maps."""
        outputs = {"G": self.generate(z, self.G)}
        if self.G_ema is not None:
            outputs["EMA"] = self.generate(z, self.G_ema)
        outputs[TRUNCATED] = self.generate(truncate(z, psi), self.G)
        if self.is_2d:
            return Comparison({}, {}, {k: v.numpy().astype(np.float32) for k, v in outputs.items()})
        from ganstudio.core.image import to_grid

        columns = {k: to_grid(v, nrow=1) for k, v in outputs.items()}
        scales, legends = {}, {}
        for other in [k for k in outputs if k != "G"]:
            diff, scale = difference_map(outputs["G"], outputs[other])
            title = f"|G − {other}|"
            columns[title] = to_grid(diff, nrow=1)
            scales[title] = scale
            legends[title] = difference_legend(other, scale, psi)
        return Comparison(columns, scales, {}, legends)

    def manifold(
        self,
        resolution: int = 21,
        span: float = 3.0,
        base: torch.Tensor | None = None,
        dims: tuple[int, int] = (0, 1),
    ) -> np.ndarray:
        """2D toys: G's image of a regular latent grid over `dims` in [-span, span] (the other
        dimensions at `base`, default the mean), as (resolution, resolution, 2): row i is the image
        of the grid line at the i-th value of dims[1]. A 1-dimensional latent gives one row."""
        if not self.is_2d:
            raise ValueError("the manifold mesh is for 2D data")
        if resolution < 2:
            raise ValueError(f"a mesh needs at least 2 lines, not {resolution}")
        ticks = torch.linspace(-span, span, resolution)
        z0 = torch.zeros(self.latent_dim) if base is None else base.float().clone()
        if self.latent_dim == 1:
            z = z0.repeat(resolution, 1)
            z[:, 0] = ticks
            return self.generate(z).numpy().astype(np.float32)[None]
        vy, vx = torch.meshgrid(ticks, ticks, indexing="ij")
        z = z0.repeat(resolution * resolution, 1)
        z[:, dims[0]] = vx.flatten()
        z[:, dims[1]] = vy.flatten()
        out = self.generate(z).numpy().astype(np.float32)
        return out.reshape(resolution, resolution, 2)


# ----- nearest real samples ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Neighbours:
    """For each query, the indices of its k nearest real samples and their distances, nearest
    first; `space` names the feature space ("classifier", "rp16" or "pixels")."""

    space: str
    indices: np.ndarray  # (n, k) int64
    distances: np.ndarray  # (n, k) float32


class RealIndex:
    """The real data, searchable by nearest neighbour in pixels and in the metrics' feature space.

    The real features are computed once, on first use (a labelled set's classifier is loaded from
    the metrics' cache, or trained there, as the metrics would)."""

    def __init__(self, cfg: Config, dataset: Dataset, cache_dir: str | Path | None = None):
        if dataset.is_2d:
            raise ValueError("nearest real images are for image data")
        from ganstudio.core.metrics.evaluator import Evaluator

        self.dataset = dataset
        self.evaluator = Evaluator(cfg, dataset, "cpu", cache_dir=cache_dir)
        self._pixels = dataset.x.flatten(1)
        self._features: torch.Tensor | None = None

    @property
    def feature_space(self) -> str:
        return self.evaluator.feature_space

    def features(self, x: torch.Tensor, should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
        self.evaluator.prepare(should_stop)
        return self.evaluator.features(x.float())[0]

    @torch.no_grad()
    def nearest(
        self,
        images: torch.Tensor,
        k: int = 8,
        space: str = "pixels",
        should_stop: Callable[[], bool] | None = None,
    ) -> Neighbours:
        """The k nearest real samples of each image (n, C, H, W), in "pixels" or "features"."""
        if images.shape[1:] != self.dataset.x.shape[1:]:
            raise ValueError(
                f"the samples have shape {tuple(images.shape[1:])}, the real data "
                f"{tuple(self.dataset.x.shape[1:])}"
            )
        k = max(1, min(int(k), len(self.dataset)))
        if space == "pixels":
            query, real, name = images.float().flatten(1), self._pixels, "pixels"
        elif space == "features":
            if self._features is None:
                self._features = self.features(self.dataset.x, should_stop)
            query, real, name = self.features(images, should_stop), self._features, self.feature_space
        else:
            raise ValueError(f"a nearest-neighbour space is 'pixels' or 'features', not {space!r}")
        best_d = torch.full((len(query), 0), math.inf)
        best_i = torch.zeros((len(query), 0), dtype=torch.int64)
        for start in range(0, len(real), NEAREST_CHUNK):
            block = real[start : start + NEAREST_CHUNK].float()
            # Exact differences, not the |a|^2 + |b|^2 - 2ab shortcut: a real image must find
            # itself at distance 0, not at the shortcut's rounding error.
            d = torch.cdist(query, block, compute_mode="donot_use_mm_for_euclid_dist")
            cand_d = torch.cat([best_d, d], dim=1)
            ids = torch.arange(start, start + len(block)).expand(len(query), -1)
            cand_i = torch.cat([best_i, ids], dim=1)
            best_d, pos = cand_d.topk(min(k, cand_d.shape[1]), dim=1, largest=False)
            best_i = cand_i.gather(1, pos)
        return Neighbours(name, best_i.numpy(), best_d.numpy().astype(np.float32))

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        return self.dataset.x[torch.as_tensor(list(indices), dtype=torch.int64)]
