"""A config in and out: plain dicts, TOML files, and `section.key=value` text (the CLI's --set, the
GUI's fields). Everything read goes through the validator."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import tomli_w

from ganstudio.core.config.keys import (
    INT_MAX,
    INT_MIN,
    KEYS,
    SECTIONS,
    Config,
    ConfigError,
    allowed,
    show,
    unknown_key,
)
from ganstudio.core.config.validate import as_float, validate, with_values


def to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    return dataclasses.asdict(cfg)


def from_dict(d: Any, *, source: str = "config") -> Config:
    """Build and validate a Config from nested plain values; unknown sections/keys are errors."""
    if not isinstance(d, dict):
        raise ConfigError([f"{source}: expected a table of sections, got {type(d).__name__}"])
    values: dict[str, Any] = {}
    problems = []
    for section, table in d.items():
        if section not in SECTIONS:
            shown = section if isinstance(section, str) and len(section) <= 80 else show(section)
            problems.append(f"{source}: unknown section [{shown}]; known: {', '.join(SECTIONS)}")
            continue
        if not isinstance(table, dict):
            problems.append(f"{source}: [{section}] must be a table of keys")
            continue
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in KEYS:
                problems.append(f"{source}: {unknown_key(key)}")
            else:
                values[key] = as_float(value) if KEYS[key].type is float else value
    if problems:
        raise ConfigError(problems)
    cfg = with_values(Config(), values)
    try:
        return validate(cfg)
    except ConfigError as e:
        raise ConfigError([f"{source}: {p}" for p in e.problems]) from None


def parse_value(key: str, text: str) -> Any:
    """Parse a command-line or text-field value for `key` into its type (no range checks).

    Numbers are written in ASCII (int() and float() would also take '٣' or full-width digits), and
    a value is refused rather than changed: '1e-400' is not 0, '2.5' is not a whole number.
    """
    info = KEYS.get(key) if isinstance(key, str) else None
    if info is None:
        raise ConfigError([unknown_key(key)])
    t = info.type
    s = text.strip()
    if t is str:
        return s

    def refuse(why: str) -> ConfigError:
        return ConfigError([f"{key} = {show(text)} {why}; it must be {allowed(info)}"])

    if t is bool:
        return _parse_bool(s, refuse)
    if not s.isascii():
        raise refuse("is not valid (write numbers with the digits 0-9)")
    return _parse_int(s, refuse) if t is int else _parse_float(s, refuse)


def _parse_bool(s: str, refuse: Callable[[str], ConfigError]) -> bool:
    low = s.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise refuse("is not valid")


def _parse_int(s: str, refuse: Callable[[str], ConfigError]) -> int:
    try:
        return int(s)  # int() also takes "1_000", as TOML does
    except ValueError:
        pass
    try:  # "1e4" steps is a whole number too; exact, so "1e-400" is not 0
        exact = Decimal(s)
    except InvalidOperation:
        raise refuse("is not valid") from None
    if not exact.is_finite():
        raise refuse("is not a finite number")
    if exact != exact.to_integral_value():
        raise refuse("is not a whole number")
    if not INT_MIN <= exact <= INT_MAX:  # before int(): int(Decimal("1e999999999")) never ends
        raise refuse("is too large")
    return int(exact)


def _parse_float(s: str, refuse: Callable[[str], ConfigError]) -> float:
    try:
        number = float(s)
    except ValueError:
        raise refuse("is not valid") from None
    if not math.isfinite(number):
        spelled = s.lower().lstrip("+-") in ("inf", "infinity", "nan")
        raise refuse("is not a finite number" if spelled else "is too large to be a number")
    if number == 0.0 and Decimal(s) != 0:
        raise refuse("is too close to 0 to be told apart from it")
    return number + 0.0  # -0.0 becomes 0.0


def apply_overrides(cfg: Config, assignments: list[str]) -> Config:
    """Apply CLI-style 'section.key=value' strings and validate."""
    values = {}
    problems = []
    for a in assignments:
        key, sep, text = a.partition("=")
        key = key.strip()
        if not sep:
            problems.append(f"--set {a!r}: expected key=value, for example optim.lr_g=1e-4")
            continue
        try:
            values[key] = parse_value(key, text)
        except ConfigError as e:
            problems.extend(e.problems)
    if problems:
        raise ConfigError(problems)
    return validate(with_values(cfg, values))


def to_toml(cfg: Config) -> str:
    return tomli_w.dumps(to_dict(cfg))


def from_toml(text: str, *, source: str = "config") -> Config:
    try:
        d = tomllib.loads(text)
    except RecursionError:
        raise ConfigError([f"{source} nests arrays or tables too deeply to be a config"]) from None
    except ValueError as e:  # TOMLDecodeError, or an integer over 4,300 digits
        raise ConfigError([f"{source} is not valid TOML: {e}"]) from None
    return from_dict(d, source=source)


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {p} does not exist"]) from None
    except (OSError, ValueError) as e:  # ValueError: UnicodeDecodeError, or a NUL in the path
        raise ConfigError([f"cannot read config file {show(str(p))}: {e}"]) from None
    return from_toml(text, source=str(p))


def save(cfg: Config, path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(to_toml(cfg), encoding="utf-8")
    tmp.replace(p)
