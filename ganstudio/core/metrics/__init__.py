"""Quality metrics of a generator, a registry by name (registry.py), computed by one `Evaluator`.

What each dataset gets (every value also as `<key>_std`, a bootstrap std, plus `n`):
- 2D toys: modes_covered, high_quality, diversity;
- labelled images: classes_covered, class_kl, fd, precision, recall, density, coverage, diversity,
  the distance metrics in a small classifier's feature space;
- image folders: fd, precision, recall, density, coverage in a fixed random projection of
  downsampled pixels, and diversity.

`BackgroundEvaluator` (background.py) runs evaluations on a daemon thread for the trainer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganstudio.core.metrics.evaluator import Evaluator
    from ganstudio.core.metrics.registry import METRICS, REGISTRY, Metric, applicable

__all__ = ["METRICS", "REGISTRY", "Evaluator", "Metric", "applicable", "summary"]
_LAZY = {
    "Evaluator": "evaluator",
    "METRICS": "registry",
    "REGISTRY": "registry",
    "Metric": "registry",
    "applicable": "registry",
}


def __getattr__(name: str) -> Any:
    """The torch-backed parts are imported when first used: the plot tabs (tabs.py) and summary()
    are read by the window at start-up, which does not import torch until training starts."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def summary(values: dict[str, float], *, modes: int | None = None, classes: int | None = None) -> str:
    """One readable line, e.g. 'modes 8/8, hq 0.93' or 'classes 10/10 KL 0.02 FD 12.3 P 0.71 R 0.64'."""

    def has(key: str) -> bool:
        v = values.get(key)
        return v is not None and math.isfinite(v)

    parts = []
    if has("modes_covered"):
        of = f"/{modes}" if modes else ""
        parts.append(f"modes {values['modes_covered']:.0f}{of}, hq {values['high_quality']:.2f}")
    if has("classes_covered"):
        of = f"/{classes}" if classes else ""
        parts.append(f"classes {values['classes_covered']:.0f}{of} KL {values['class_kl']:.2f}")
    for key, label, fmt in (
        ("fd", "FD", ".3g"),
        ("fid_inception", "FID", ".3g"),
        ("precision", "P", ".2f"),
        ("recall", "R", ".2f"),
        ("density", "D", ".2f"),
        ("coverage", "C", ".2f"),
        ("diversity", "div", ".2f"),
    ):
        if has(key):
            parts.append(f"{label} {values[key]:{fmt}}")
    return " ".join(parts) if parts else "no metrics"
