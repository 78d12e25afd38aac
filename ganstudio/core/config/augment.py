"""What `data.augment` and `data.augment_p` may say, read as text only (the trainer's
core/train/augment.py applies them): the DiffAugment ops by name, and a fixed chance or "auto"."""

from __future__ import annotations

import math
import reprlib

OPS = ("color", "translation", "cutout")
AUTO = "auto"
_short = reprlib.Repr()
_short.maxstring = 60
show = _short.repr  # a value named in a message, cut to a readable length


def ops_of(text: str) -> tuple[str, ...]:
    """The ops `data.augment` names, in the order they apply (colour, then translation, then cutout,
    as DiffAugment); () for 'off'. Assumes a valid value (`augment_problem` is None)."""
    named = {part.strip() for part in text.split(",")} - {"off", ""}
    return tuple(op for op in OPS if op in named)


def fixed_p(text: str) -> float | None:
    """`data.augment_p` as a number, or None for 'auto'. Assumes a valid value."""
    return None if text.strip() == AUTO else float(text)


def augment_problem(key: str, value: str) -> str | None:
    """What is wrong with `data.augment` or `data.augment_p`'s text, or None."""
    if key == "data.augment":
        parts = [part.strip() for part in value.split(",")]
        if value.strip() == "off":
            return None
        bad = list(dict.fromkeys(part for part in parts if part not in OPS))  # each once, in order
        if bad or not parts:
            named = ", ".join(show(b) for b in bad[:3]) + (
                f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            )
            return (
                f"data.augment = {show(value)}: {named or 'nothing'} "
                f"{'are not augmentations' if len(bad) > 1 else 'is not an augmentation'}; use 'off', "
                f"or any of {', '.join(OPS)} joined by commas "
                "(e.g. 'color,translation,cutout')"
            )
        return None
    if key == "data.augment_p" and value.strip() != AUTO:
        try:
            p = float(value)
        except ValueError:
            p = math.nan
        if not 0.0 <= p <= 1.0:
            return (
                f"data.augment_p = {show(value)} is neither 'auto' nor a number from 0 to 1; use e.g. "
                "'0.5', '1' (always, as DiffAugment) or 'auto' (adaptive, as StyleGAN2-ADA)"
            )
    return None
