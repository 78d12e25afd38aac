"""Changing the config of a run that exists: which keys may change live, on resume or in a fork,
and `live_update`, the one check of such an edit."""

from __future__ import annotations

from typing import Any

from ganstudio.core.config.keys import KEYS, Config, ConfigError, get, unknown_key
from ganstudio.core.config.validate import as_float, validate, with_values

LIVE_KEYS = frozenset(k.key for k in KEYS.values() if k.live)


def live_changes(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """{key: (old, new)} for every key that differs."""
    return {k: (get(old, k), get(new, k)) for k in KEYS if get(old, k) != get(new, k)}


#: Keys a run may change when it continues from a checkpoint (resumed or forked): the live ones, and
#: those that touch neither the models' or the data's shapes nor the random streams.
# log.notify_url: a saved config keeps it without its secret (config/notify.py), so a run that
# continues is given it again.
RESUMABLE_KEYS = LIVE_KEYS | frozenset(
    {"log.out", "log.name", "log.notify_url", "train.device", "train.threads", "train.amp", "train.compile"}
)
#: A fork may also draw its noise from another seed from the fork on (its models and data are the
#: parent's, so their shapes and the data order stay).
FORK_KEYS = RESUMABLE_KEYS | frozenset({"train.seed"})
LOCKED_WHY = {
    "train": "cannot change while training runs: {reason}; start a new run to change it",
    "resume": "is fixed by the checkpoint's models and data; it cannot change when a run continues",
    "fork": "is fixed by the checkpoint's models and data (their shapes or the data order); a fork "
    "can change the live keys, the loss and train.seed",
}
#: Why a key that is not live is fixed once a run exists, by section.
LOCK_REASONS = {
    "data": "the models and data are built for it",
    "model": "the models are built from it",
    "loss": "the loss is built from it at start",
    "train": "the run was started with it",
    "log": "the run folder was created from it",
}


def locked_message(key: str, why: str = "train") -> str:
    """The one wording of "this key cannot change now", for the CLI, a control file's refusal,
    the app's dialog and the field's tooltip alike."""
    reason = LOCK_REASONS.get(key.split(".", 1)[0], "the run was started with it")
    return f"{key} " + LOCKED_WHY[why].format(reason=reason)


class LockedKeys(ConfigError):
    """A live edit that would change keys the run has fixed: `keys` names them (sorted), `why` is
    the occasion ("train": a live edit; "resume" or "fork": a run that continues), and `problems`
    says each in the one wording (locked_message)."""

    def __init__(self, keys: list[str] | tuple[str, ...], why: str = "train"):
        self.keys = tuple(keys)
        self.why = why
        super().__init__([locked_message(k, why) for k in self.keys])


def live_update(
    current: Config,
    change: Config | dict[str, Any],
    *,
    allowed: frozenset[str] = LIVE_KEYS,
    why: str = "train",
) -> tuple[Config, dict[str, tuple[Any, Any]]]:
    """`current` with `change` applied, for a run that exists: the one check of a live edit.

    `change` is a whole Config or {"section.key": value} (JSON-style: 1 for a float key is 1.0).
    Every value goes through the validator, and a key outside `allowed` whose value differs is
    refused. Returns the new config and {key: (old, new)} for what changed; raises LockedKeys when
    only locked keys are wrong, else ConfigError listing every problem."""
    if isinstance(change, Config):
        new = change
    else:
        if not isinstance(change, dict):
            kind = type(change).__name__
            raise ConfigError([f"a live edit must be a table of keys and values, not {kind}"])
        values = {}
        for key, value in change.items():
            info = KEYS.get(key) if isinstance(key, str) else None
            if info is None:
                raise ConfigError([unknown_key(key)])
            if info.type is float:
                value = as_float(value)
            values[key] = value
        new = with_values(current, values)
    new = validate(new)
    changes = live_changes(current, new)
    locked = sorted(k for k in changes if k not in allowed)
    if locked:
        raise LockedKeys(locked, why)
    return new, changes
