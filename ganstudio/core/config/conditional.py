"""What model.conditional needs of the rest of a config: labelled images and a built-in arch."""

from __future__ import annotations

from ganstudio.core.config.arch import ARCHS
from ganstudio.core.config.keys import Config, is_2d


def conditional_problems(cfg: Config) -> list[str]:
    """Why model.conditional cannot be on with this config ([] when it can, or is off)."""
    if not cfg.model.conditional:
        return []
    if is_2d(cfg):
        return [
            f"model.conditional = true needs labelled images, but data.dataset = {cfg.data.dataset!r} "
            "is 2D points with no classes; set model.conditional = false"
        ]
    if cfg.model.arch not in ARCHS:
        return [
            f"model.conditional = true works with the built-in archs ({', '.join(ARCHS)}); your own "
            f"model {cfg.model.arch!r} is not given the classes: set model.conditional = false "
            "and condition inside your own code"
        ]
    return []
