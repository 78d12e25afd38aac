"""A loop's config: GAN Studio's keys, checked by its key table, and the loop's own keys.

`ganstudio.init(config={...})` takes both in one flat table. A key of one of GAN Studio's sections
(`optim.lr_g`, `train.batch_size`, ...) is GAN Studio's: its value goes through the one validator
and into the run folder's config.toml, so the app's field for it shows it; a misspelt one is an
error at init. Any other key (`my.lambda_gp`, `ema_decay`) is the loop's own: a plain value (bool,
int, float, text), kept in run.json and shown by the app, editable while the loop runs when it is
declared live. Edits are checked here, by the same `live_update` as every live edit of GAN Studio.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ganstudio.core.config import (
    KEYS,
    SECTIONS,
    Config,
    ConfigError,
    get,
    live_update,
    unknown_key,
    validate,
    with_values,
)
from ganstudio.core.config.validate import as_float

#: The GAN Studio keys a loop acts on without declaring them: the health thresholds (checked here,
#: on what it logs), how often its values are written (log.every) and its length (train.steps, for
#: the app's progress and ETA). The optimizers' keys join them when the loop's optimizers are watched.
ALWAYS_LIVE = frozenset(k for k in KEYS if k.startswith("health.")) | {"log.every", "train.steps"}
OPTIM_LIVE = frozenset({"optim.lr_g", "optim.lr_d", "optim.beta1", "optim.beta2"})
PLAIN = (bool, int, float, str)


def is_ganstudio_key(key: str) -> bool:
    """Whether `key` is in one of GAN Studio's sections (so it must be one of its keys)."""
    return key.split(".", 1)[0] in SECTIONS and "." in key


class LoopSettings:
    """The loop's current values. `cfg` is the whole GAN Studio config (defaults for the keys the
    loop did not give); `values` (read-only, kept current) is what the loop gave and what changed
    since, its own keys included: what `run.config` shows."""

    def __init__(self, config: Mapping[str, Any] | None, live: Iterable[str], defaults: dict[str, Any]):
        given = dict(config or {})
        problems: list[str] = []
        ours = {k: v for k, v in given.items() if isinstance(k, str) and is_ganstudio_key(k)}
        own = {k: v for k, v in given.items() if k not in ours}
        for key, value in own.items():
            problem = _own_value_problem(key, value)
            if problem:
                problems.append(problem)
        unknown = [k for k in ours if k not in KEYS]
        problems += [unknown_key(k) for k in unknown]
        self.live = frozenset(live)
        problems += [
            f"live key {k!r} has no starting value: give it one in config={{...}}"
            for k in sorted(self.live)
            if k not in KEYS and k not in own
        ]
        if problems:
            raise ConfigError(problems)
        typed = {k: as_float(v) if KEYS[k].type is float else v for k, v in ours.items()}
        self.cfg: Config = validate(with_values(Config(), {**defaults, **typed}))
        self._values = {k: get(self.cfg, k) for k in ours} | own
        self.values = MappingProxyType(self._values)
        self.own = set(own)

    def allowed(self, watched: bool) -> frozenset[str]:
        """The GAN Studio keys that may change now."""
        base = ALWAYS_LIVE | (OPTIM_LIVE if watched else frozenset())
        return base | (self.live & KEYS.keys())

    def edit(self, values: Mapping[str, Any], watched: bool) -> dict[str, tuple[Any, Any]]:
        """Apply one edit ({key: value}) as a whole, or raise ConfigError saying why not (nothing
        changes then). Returns {key: (old, new)} for what changed."""
        if not isinstance(values, Mapping):
            raise ConfigError([f"an edit must be a table of keys and values, not {type(values).__name__}"])
        ours = {k: v for k, v in values.items() if isinstance(k, str) and is_ganstudio_key(k)}
        own = {k: v for k, v in values.items() if k not in ours}
        changes: dict[str, tuple[Any, Any]] = {}
        new_own = self._check_own(own, changes)
        cfg = self.cfg
        if ours:
            cfg, ganstudio_changes = live_update(self.cfg, ours, allowed=self.allowed(watched))
            changes.update(ganstudio_changes)
        self.cfg = cfg
        for key, (_, new) in changes.items():
            self._values[key] = new_own[key] if key in new_own else new
        return changes

    def _check_own(self, own: dict[str, Any], changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
        problems, out = [], {}
        for key, value in own.items():
            if key not in self.own:
                problems.append(
                    f"{key!r} is not a key of this run: its config has "
                    + (", ".join(sorted(self._values)) or "no keys")
                )
                continue
            old = self._values[key]
            new, problem = _typed_like(old, value)
            if problem:
                problems.append(f"{key} = {value!r} {problem}")
            elif new != old and key not in self.live:
                problems.append(
                    f"{key} is not live: declare it with ganstudio.init(..., live=[{key!r}]) to edit "
                    "it while the loop runs"
                )
            elif new != old:
                out[key] = new
                changes[key] = (old, new)
        if problems:
            raise ConfigError(problems)
        return out

    def adopt(self, values: dict[str, Any]) -> str:
        """Take GAN Studio keys' values as they are (what the loop's optimizers were made with),
        unless they are not valid: then nothing changes and the reason is returned."""
        try:
            self.cfg = validate(with_values(self.cfg, values))
        except ConfigError as e:
            return "; ".join(e.problems)
        self._values.update(values)
        return ""

    def own_values(self) -> dict[str, Any]:
        return {k: self._values[k] for k in sorted(self.own)}


def _own_value_problem(key: Any, value: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        return f"a config key must be a non-empty name, not {key!r}"
    if not isinstance(value, PLAIN) or (isinstance(value, float) and not math.isfinite(value)):
        return f"{key} = {value!r}: a loop's own key takes a plain value (true/false, a number or text)"
    return ""


def _typed_like(old: Any, value: Any) -> tuple[Any, str]:
    """`value` as the type of `old` (a whole number for a float key is a float), or why it is not."""
    if isinstance(old, bool):
        return (value, "") if isinstance(value, bool) else (None, "is not true or false")
    if isinstance(old, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value), ""
        return None, "is not a finite number"
    if isinstance(old, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value, ""
        return None, "is not a whole number"
    return (value, "") if isinstance(value, str) else (None, "is not text")
