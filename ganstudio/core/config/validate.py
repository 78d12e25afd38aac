"""Validation: the one check of a config's values (`validate`, `check_value` per key) and the
copy of a config with some keys changed (`with_values`)."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from ganstudio.core.config.arch import IMAGE_SIZES, arch_problem
from ganstudio.core.config.augment import augment_problem, ops_of
from ganstudio.core.config.conditional import conditional_problems
from ganstudio.core.config.keys import (
    DATASETS_2D,
    INT_MAX,
    INT_MIN,
    KEYS,
    RUN_NAME_MAX_BYTES,
    Config,
    ConfigError,
    allowed,
    is_2d,
    resolved_image_shape,
    show,
    unknown_key,
)
from ganstudio.core.config.notify import notify_problem


def _text_problem(key: str, value: str) -> str | None:
    """What stops a text value from being saved (TOML is UTF-8) or used in a path, or None."""
    if "\0" in value:
        return f"{key} = {show(value)} contains a NUL character (\\x00), which no path can hold; remove it"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return (
            f"{key} = {show(value)} contains a lone surrogate character, which cannot be saved as "
            "UTF-8; remove it"
        )
    if key == "log.name":
        if "/" in value or "\\" in value:
            return (
                f"{key} = {show(value)} contains a path separator; it names one run folder inside "
                "log.out: use a name without / or \\ (put the parent folder in log.out)"
            )
        if value.strip() in (".", ".."):
            return f"{key} = {show(value)} is not a folder name; use a name such as 'baseline'"
        size = len(value.encode("utf-8"))
        if size > RUN_NAME_MAX_BYTES:
            return (
                f"{key} = {show(value)} is {size} bytes long; with the run folder's time stamp it "
                f"must fit in a 255-byte file name, so it may have at most {RUN_NAME_MAX_BYTES} bytes"
            )
    return None


def check_value(key: str, value: Any) -> str | None:
    """The problem with one key's value, or None. Used per field by the GUI and by `validate`."""
    info = KEYS.get(key) if isinstance(key, str) else None
    if info is None:
        return unknown_key(key)
    t = info.type
    shown = show(value)
    ok_type = (
        isinstance(value, bool)
        if t is bool
        else isinstance(value, t) and not isinstance(value, bool)
        if t in (int, str)
        else isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok_type:
        kind = type(value).__name__
        kind = {"dict": "table", "datetime": "date-time"}.get(kind, kind)  # as TOML names them
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{key} = {shown} is {article} {kind}; it must be {allowed(info)}"
    if t is float:
        try:  # an int from TOML or a checkpoint may be too large for any float
            finite = math.isfinite(value)
        except OverflowError:
            return f"{key} = {shown} is too large to be a number; it must be {allowed(info)}"
        if not finite:
            return f"{key} = {shown} is not a finite number; it must be {allowed(info)}"
    if t is str:
        problem = _text_problem(key, value) or (arch_problem(value) if key == "model.arch" else None)
        problem = problem or augment_problem(key, value)
        problem = problem or notify_problem(key, value)
        if problem:
            return problem
    if info.choices is not None and value not in info.choices and info.allowed_text is None:
        return f"{key} = {shown} is not allowed; it must be {allowed(info)}"
    if info.min is not None and (value <= info.min if info.min_exclusive else value < info.min):
        return f"{key} = {shown} is too small; it must be {allowed(info)}"
    if info.max is not None and value > info.max:
        return f"{key} = {shown} is too large; it must be {allowed(info)}"
    if t is int and not INT_MIN <= value <= INT_MAX:
        return (
            f"{key} = {shown} is too large; it must be {allowed(info)}, and a config file holds whole "
            f"numbers up to {INT_MAX}"
        )
    return None


def _cross_checks(cfg: Config) -> list[str]:
    problems = []
    dev = cfg.train.device
    # ASCII digits only (str.isdigit takes '٣' and '²') and no leading zeros: torch refuses those,
    # and reads an index above 127 as a negative one.
    index = re.fullmatch(r"cuda:(0|[1-9][0-9]{0,2})", dev)
    if not (dev in ("auto", "cpu", "cuda", "mps") or (index and int(index[1]) <= 127)):
        problems.append(
            f"train.device = {show(dev)} is not a device; use auto, cpu, cuda, cuda:N (N = 0..127) or mps"
        )
    if cfg.data.dataset != "folder" and cfg.data.dataset not in DATASETS_2D and 0 < cfg.data.image_size < 4:
        problems.append(f"data.image_size = {cfg.data.image_size} is too small; use 0 (native) or >= 4")
    sizes = IMAGE_SIZES.get(cfg.model.arch)
    if sizes:
        arch = cfg.model.arch
        if is_2d(cfg):
            problems.append(
                f"model.arch = {arch!r} needs images, but data.dataset = {cfg.data.dataset!r} is 2D "
                "points; use model.arch = 'mlp'"
            )
        else:
            _, size, _ = resolved_image_shape(cfg.data)
            if size not in sizes:
                problems.append(
                    f"model.arch = {arch!r} needs data.image_size in {', '.join(map(str, sizes))}; "
                    f"{cfg.data.dataset} would be {size}x{size}: set data.image_size to one of them"
                )
    problems += _augment_checks(cfg)
    problems += conditional_problems(cfg)
    if cfg.data.dataset == "folder" and not cfg.data.root.strip():
        problems.append("data.root is empty; for data.dataset = 'folder' it must be your image folder")
    return problems


def _augment_checks(cfg: Config) -> list[str]:
    if not ops_of(cfg.data.augment):
        return []
    if is_2d(cfg):
        return [
            f"data.augment = {cfg.data.augment!r} augments images, but data.dataset = "
            f"{cfg.data.dataset!r} is 2D points; set data.augment = 'off'"
        ]
    if cfg.data.augment_p.strip() == "auto" and cfg.data.holdout == 0:
        return [
            "data.augment_p = 'auto' steers p by D's r_t, measured with the held-out reals; set "
            "data.holdout above 0 (e.g. 0.05) or give data.augment_p a number from 0 to 1"
        ]
    return []


def validate(cfg: Config) -> Config:
    """Return cfg if it is valid, else raise ConfigError listing every problem."""
    problems = []
    for info in KEYS.values():
        section, name = info.key.split(".")
        problem = check_value(info.key, getattr(getattr(cfg, section), name))
        if problem:
            problems.append(problem)
    if not problems:
        problems = _cross_checks(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def with_values(cfg: Config, values: dict[str, Any]) -> Config:
    """A copy of cfg with {'section.key': value} applied (unvalidated: call validate)."""
    sections: dict[str, dict[str, Any]] = {}
    unknown = [k for k in values if k not in KEYS]
    if unknown:
        raise ConfigError([unknown_key(k) for k in unknown])
    for key, value in values.items():
        section, name = key.split(".")
        sections.setdefault(section, {})[name] = value
    return dataclasses.replace(
        cfg, **{s: dataclasses.replace(getattr(cfg, s), **kv) for s, kv in sections.items()}
    )


def as_float(value: Any) -> Any:
    """A float key's value as a float where that is exact enough; anything else is left to the validator.

    TOML has no int/float distinction for 1 vs 1.0 that users care about; an int too large for a
    float stays an int, for check_value to name. -0.0 becomes 0.0, so no field ever shows "-0.0".
    """
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            return value
    return value + 0.0 if isinstance(value, float) else value


def batch_split_problem(batch_size: int, processes: int) -> str | None:
    """Why train.batch_size (the global batch) cannot be split over `processes`, with the nearest
    sizes that can; None when it can."""
    if processes <= 1 or batch_size % processes == 0:
        return None
    lower = batch_size - batch_size % processes
    upper = lower + processes
    near = f"{lower} or {upper}" if lower > 0 else f"{upper}"
    return (
        f"train.batch_size = {batch_size} is the global batch and must divide by the {processes} "
        f"processes (WORLD_SIZE); use {near}"
    )
