"""Hostile values through every door into the config validator: only ConfigError may come out.

The doors are a TOML file or the app's saved settings (from_toml), a checkpoint's config dict
(from_dict), --set text (apply_overrides) and a GUI field's text (parse_value, then check_value).
Values come from a seeded generator of nasty cases (no hypothesis here), so a failure reproduces.
"""

from __future__ import annotations

import datetime
import math
import random

import pytest
import torch

from ganstudio.core.config import (
    KEYS,
    RUN_NAME_MAX_BYTES,
    Config,
    ConfigError,
    apply_overrides,
    check_value,
    from_dict,
    from_toml,
    parse_value,
    run_name,
    to_toml,
    validate,
)

CASES = 1500
SECTIONS_AND_NAMES = [k.split(".") for k in KEYS]


def nested(depth: int, leaf: object, kind: type) -> object:
    for _ in range(depth):
        leaf = [leaf] if kind is list else {"a": leaf}
    return leaf


PYTHON_VALUES = [
    0,
    -1,
    1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**400,
    -(10**400),
    10**5000,
    True,
    False,
    None,
    0.0,
    -0.0,
    5e-324,
    1e-300,
    1e308,
    1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    " ",
    "\0",
    "a\0b",
    "\ud800",
    "x\udfff",
    "٣",
    "１０",
    "/",
    "\\",
    ".",
    "..",
    "a/b",
    "x" * 300,
    "é" * 200,
    "cuda:٣",
    "cuda:007",
    "cuda:128",
    "cuda:99999999999999999999",
    "\t\n",
    "\x7f",
    "digits",
    [],
    {},
    [1, 2],
    {"a": 1},
    [[[]]],
    b"bytes",
    (1, 2),
    nested(1000, 1, list),
    nested(5000, 1.0, list),
    nested(1000, "x", dict),
    datetime.datetime(1979, 5, 27, 7, 32),
    datetime.date(1979, 5, 27),
    datetime.time(7, 32),
    torch.tensor(1.0),
    torch.zeros(3),
]

TEXT_PIECES = [
    "0",
    "1",
    "9",
    "٣",
    "１",
    "²",
    ".",
    "e",
    "E",
    "+",
    "-",
    "_",
    "x",
    "0x",
    "inf",
    "nan",
    "infinity",
    " ",
    "\t",
    "\u2003",
    "\0",
    "\ud800",
    "/",
    "\\",
    "é",
    "true",
    "yes",
    "=",
]
TEXTS = [
    "",
    "1e-400",
    "-1e-400",
    "1e309",
    "-1e309",
    "9" * 5000,
    "1e999999999",
    "1e-999999999",
    "-0",
    "-0.0",
    "0x10",
    "1_000",
    "1__0",
    "_1",
    "1e",
    "e1",
    ".",
    "1.5",
    "2.0",
    "1e4",
    "sNaN",
    "NaN",
    " 12 ",
    "9223372036854775808",
    "-9223372036854775809",
    "cuda:٣",
    "..",
    "a\0b",
]

TOML_LITERALS = [
    "1e400",
    "inf",
    "-inf",
    "nan",
    "-0.0",
    "0",
    "-0",
    "1" + "0" * 400,
    "1" * 5000,
    "0x10",
    "1_000",
    "9223372036854775808",
    "true",
    "1979-05-27T07:32:00Z",
    "1979-05-27",
    "07:32:00",
    "{a = 1}",
    "[]",
    "[1, 2]",
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\ud800"',
    '"/"',
    '".."',
    '"٣"',
    "'x'",
    '""',
    "[" * 1000 + "1" + "]" * 1000,
    "[" * 50 + "]" * 50,
    "{a = " * 500 + "1" + "}" * 500,
    '"' + "é" * 200 + '"',
]


def hostile_text(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(TEXTS)
    return "".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(1, 8)))


def a_key(rng: random.Random) -> tuple[object, object]:
    """Mostly real section/name pairs, some unknown or not even strings."""
    r = rng.random()
    if r < 0.85:
        return tuple(rng.choice(SECTIONS_AND_NAMES))
    if r < 0.95:
        return rng.choice(["optim", "nope", "", "train"]), rng.choice(["lr", "", "\0", "steps "])
    return rng.choice([1, None, (1,)]), rng.choice([2, "x"])


def hostile_dict(rng: random.Random) -> object:
    if rng.random() < 0.05:
        return rng.choice([[], "config", None, nested(1000, 1, list), {"train": []}, {"train": 5}])
    d: dict = {}
    for _ in range(rng.randint(1, 4)):
        section, name = a_key(rng)
        value = rng.choice(PYTHON_VALUES) if rng.random() < 0.8 else hostile_text(rng)
        d.setdefault(section, {})[name] = value
    return d


def hostile_toml(rng: random.Random) -> str:
    if rng.random() < 0.1:  # not TOML at all, or a table where a value belongs
        return rng.choice(
            [
                "[train.steps]\na = 1\n",
                "[[train]]\nsteps = 1\n",
                "train = 5\n",
                "[train\n",
                "\0",
                "\ud800",
                hostile_text(rng),
            ]
        )
    lines = []
    for _ in range(rng.randint(1, 3)):
        section, name = rng.choice(SECTIONS_AND_NAMES)
        lines.append(f"[{section}]\n{name} = {rng.choice(TOML_LITERALS)}\n")
    return "".join(lines)


def assert_usable(cfg: Config) -> None:
    """A config that passed can be validated again, saved and read back, and names a run folder."""
    assert validate(cfg) == cfg
    assert from_toml(to_toml(cfg)) == cfg
    assert len(run_name(cfg).encode("utf-8")) <= RUN_NAME_MAX_BYTES


def assert_readable(error: ConfigError) -> None:
    assert error.problems and all(isinstance(p, str) and p.strip() for p in error.problems)
    # One problem names a key, its value and what is allowed: no megabyte reprints.
    assert all(len(p) < 2000 for p in error.problems), [p[:200] for p in error.problems]


def shown(x: object) -> str:
    try:
        return repr(x)[:300]
    except (ValueError, RecursionError):  # an int over 4,300 digits, an array nested too deep
        return f"<a {type(x).__name__} too large to show>"


def only_config_errors(call, *args: object) -> None:
    """call(*args) returns a usable Config (or None) or raises a readable ConfigError, nothing else."""
    try:
        result = call(*args)
    except ConfigError as e:
        assert_readable(e)
        return
    except Exception as e:  # the test's point: anything else escaping is a bug
        raise AssertionError(f"{type(e).__name__} escaped for {shown(args)}") from e
    if isinstance(result, Config):
        assert_usable(result)


def gui_field(key: str, text: str) -> None:
    """What the hyperparameter panel does with a field's text: parse, then check the one value."""
    problem = check_value(key, parse_value(key, text))
    assert problem is None or (isinstance(problem, str) and len(problem) < 2000)


@pytest.mark.parametrize("seed", [0, 1])
def test_hostile_dicts_only_raise_config_errors(seed):
    rng = random.Random(seed)
    for _ in range(CASES):
        d = hostile_dict(rng)
        only_config_errors(from_dict, d)


@pytest.mark.parametrize("seed", [0, 1])
def test_hostile_toml_only_raises_config_errors(seed):
    rng = random.Random(seed)
    for _ in range(CASES // 3):
        text = hostile_toml(rng)
        only_config_errors(from_toml, text)


@pytest.mark.parametrize("seed", [0, 1])
def test_hostile_text_only_raises_config_errors(seed):
    rng = random.Random(seed)
    for _ in range(CASES):
        key = ".".join(rng.choice(SECTIONS_AND_NAMES)) if rng.random() < 0.9 else hostile_text(rng)
        text = hostile_text(rng)
        only_config_errors(apply_overrides, Config(), [f"{key}={text}"])
        only_config_errors(gui_field, key, text)


def test_check_value_never_raises_for_any_key_and_value():
    for key in KEYS:
        for value in PYTHON_VALUES:
            problem = check_value(key, value)
            assert problem is None or (problem.startswith(f"{key} = ") and len(problem) < 2000), problem
