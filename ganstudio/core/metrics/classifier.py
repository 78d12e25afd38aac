"""A small CNN trained on a labelled image set, for class coverage and a learned feature space.

It is trained the first time a run of that dataset needs it (digits: a few seconds on a CPU) and
cached on disk under the user's cache folder: `$GANSTUDIO_CACHE_DIR`, else
`$XDG_CACHE_HOME/ganstudio`, else `~/.cache/ganstudio`, one file per dataset, image shape, data
digest and `VERSION`. When that folder cannot be written the classifier lives in memory for the
rest of the process.

Training never touches torch's global random state (it is part of a run's checkpoint, and exact
resume depends on it): the weights are initialised and the batches drawn from its own
torch.Generator, and there is no dropout.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

VERSION = 1
FEATURE_DIM = 128
MAX_SIDE = 32  # larger images are average-pooled to 32x32 first: cheap, and enough to tell classes
HOLDOUT = 0.1  # share of the data kept out of training to measure accuracy
BATCH = 64
LR = 2e-3
EPOCHS = 12
MIN_STEPS, MAX_STEPS = 300, 800
SEED = 1234


class Cancelled(Exception):
    """Training was abandoned because `should_stop()` became true."""


class Classifier(nn.Module):
    """conv-conv-conv, pooled to 2x2, then a 128-wide hidden layer (the feature space) and logits."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.hidden = nn.Sequential(nn.Linear(256, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > MAX_SIDE or x.shape[-2] > MAX_SIDE:
            x = F.adaptive_avg_pool2d(x, MAX_SIDE)
        return self.hidden(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def new_classifier(channels: int, num_classes: int, generator: torch.Generator) -> Classifier:
    """A freshly initialised classifier (PyTorch's default init, drawn from `generator`)."""
    with torch.device("meta"):  # no weights are drawn from the global generator
        model = Classifier(channels, num_classes)
    model.to_empty(device="cpu")
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            fan_in = m.weight[0].numel()
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


@torch.no_grad()
def predict(model: Classifier, x: torch.Tensor, batch: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, logits) for images x, in eval mode, batched."""
    model.eval()
    feats, logits = [], []
    for chunk in x.split(batch):
        f = model.features(chunk.float())
        feats.append(f)
        logits.append(model.head(f))
    return torch.cat(feats), torch.cat(logits)


@torch.enable_grad()  # also when called under no_grad, as from an evaluation
def train_classifier(
    x: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    seed: int = SEED,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Classifier, dict[str, Any]]:
    """Train on all but a held-out HOLDOUT share; info has the held-out accuracy and the time."""
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    perm = torch.randperm(n, generator=gen)
    n_val = max(1, int(n * HOLDOUT))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    model = new_classifier(x.shape[1], num_classes, gen)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps = min(MAX_STEPS, max(MIN_STEPS, EPOCHS * len(train_idx) // BATCH))
    model.train()
    order, pos = torch.randperm(len(train_idx), generator=gen), 0
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise Cancelled
        if pos + BATCH > len(order):
            order, pos = torch.randperm(len(train_idx), generator=gen), 0
        idx = train_idx[order[pos : pos + BATCH]]
        pos += BATCH
        lr = LR * 0.5 * (1 + math.cos(math.pi * step / steps))  # cosine decay: a steady finish
        for group in opt.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(model(x[idx].float()), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _, logits = predict(model, x[val_idx])
    accuracy = float((logits.argmax(1) == labels[val_idx]).double().mean())
    return model.eval(), {"val_accuracy": accuracy, "seconds": time.perf_counter() - t0, "steps": steps}


# ----- the cache ---------------------------------------------------------------------------------

_MEMORY: dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]] = {}
_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    env = os.environ.get("GANSTUDIO_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganstudio"


def cache_key(name: str, x: torch.Tensor, labels: torch.Tensor) -> str:
    """dataset name, image shape, sample count, a digest of the data, and the code VERSION."""
    c, h, w = x.shape[1:]
    stride = max(1, x.shape[0] // 512)
    digest = hashlib.sha1(x[::stride].contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().tobytes())
    return f"classifier-{name}-{c}x{h}x{w}-n{x.shape[0]}-{digest.hexdigest()[:10]}-v{VERSION}"


def clear_memory_cache() -> None:
    with _LOCK:
        _MEMORY.clear()


def load_or_train(
    name: str,
    x: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    cache_dir: str | Path | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Classifier, dict[str, Any]]:
    """The classifier for this data: from memory, from the disk cache, or trained now.

    info["source"] is "memory", "disk" or "trained"; info["cache"] is the file it was saved to or
    read from, or "" when it lives in memory only (the cache folder could not be written).
    """
    key = cache_key(name, x, labels)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{key}.pt"
    with _LOCK:
        hit = _MEMORY.get(key)
    if hit is not None:
        state, info = hit
        return _from_state(state, x.shape[1], num_classes), {**info, "source": "memory"}
    loaded = _read(path, key)
    if loaded is not None:
        state, info = loaded
        info = {**info, "cache": str(path)}
        with _LOCK:
            _MEMORY[key] = (state, info)
        return _from_state(state, x.shape[1], num_classes), {**info, "source": "disk"}
    model, info = train_classifier(x, labels, num_classes, should_stop=should_stop)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    info["cache"] = str(path) if _write(path, key, state, info) else ""
    with _LOCK:
        _MEMORY[key] = (state, info)
    return model, {**info, "source": "trained"}


def _from_state(state: dict[str, torch.Tensor], channels: int, num_classes: int) -> Classifier:
    with torch.device("meta"):
        model = Classifier(channels, num_classes)
    model.to_empty(device="cpu")
    model.load_state_dict(state)
    return model.eval()


def _read(path: Path, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """A cached classifier, or None when the file is missing, unreadable or from another version."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") != key or blob.get("version") != VERSION:
            return None
        return blob["state"], {
            "val_accuracy": float(blob["val_accuracy"]),
            "seconds": 0.0,
            "steps": int(blob["steps"]),
        }
    except Exception:  # missing, truncated or foreign: train a new one
        return None


def _write(path: Path, key: str, state: dict[str, torch.Tensor], info: dict[str, Any]) -> bool:
    blob = {
        "version": VERSION,
        "key": key,
        "state": state,
        "val_accuracy": info["val_accuracy"],
        "steps": info["steps"],
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(blob, tmp)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
        return True
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False
