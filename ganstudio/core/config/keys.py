"""The run configuration: nested frozen dataclasses, one validator, TOML in and out.

Every key carries its own description in field metadata (`help`, `choices`, `min`/`max`, `live`):
the validator, the CLI's `--set`, the GUI's hyperparameter panel and the README's key table all
read it from here, so there is one definition of what a key means and what it allows.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import reprlib
import tomllib
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import tomli_w

DATASETS_2D = ("ring8", "grid25", "spiral")
DATASETS_IMAGE = ("digits", "mnist", "fashion-mnist", "cifar10", "folder")
DATASETS = DATASETS_IMAGE + DATASETS_2D
ARCHS = ("mlp", "dcgan")
LOSSES = ("minimax", "nonsaturating", "hinge", "lsgan", "wgan-gp")
DCGAN_SIZES = (16, 28, 32, 64)
# Native (height=width, channels) of the fixed datasets; image_size/channels 0 mean "native".
NATIVE_SHAPE = {
    "digits": (8, 1),
    "mnist": (28, 1),
    "fashion-mnist": (28, 1),
    "cifar10": (32, 3),
    "folder": (64, 3),
}
# TOML stores whole numbers in 64 bits: a config holding a larger one could not be read back.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# A run folder is <out>/<YYYYmmdd-HHMMSS>-<log.name>[-N] (runlog.create_run_dir), and filesystems allow
# 255 bytes per name: 16 go to the time stamp and up to 4 to the "-N" that keeps names unique.
RUN_NAME_MAX_BYTES = 255 - len("20260101-000000-") - len("-999")


def _key(help: str, *, choices=None, min=None, max=None, min_exclusive=False, live=False):
    return {
        "help": help,
        "choices": choices,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "live": live,
    }


@dataclass(frozen=True)
class DataConfig:
    dataset: str = field(default="digits", metadata=_key("Training data.", choices=DATASETS))
    root: str = field(
        default="data",
        metadata=_key("Folder for mnist/fashion-mnist/cifar10 files, or the image folder for 'folder'."),
    )
    image_size: int = field(
        default=0,
        metadata=_key("Side of the square images in pixels; 0 = the dataset's own size.", min=0, max=256),
    )
    channels: int = field(
        default=0, metadata=_key("1 = grayscale, 3 = RGB, 0 = the dataset's own.", choices=(0, 1, 3))
    )
    holdout: float = field(
        default=0.05,
        metadata=_key(
            "Share of the real images never trained on, to see D memorise the rest (the Overfitting "
            "tab, the d_overfit alert); 0 = off. For image sets under 100,000 images (the 2D toys "
            "have none).",
            min=0.0,
            max=0.5,
        ),
    )


@dataclass(frozen=True)
class ModelConfig:
    arch: str = field(default="mlp", metadata=_key("Generator/discriminator family.", choices=ARCHS))
    latent_dim: int = field(default=100, metadata=_key("Size of the noise vector z.", min=1, max=4096))
    width: int = field(
        default=0,
        metadata=_key(
            "Hidden width: mlp's first generator layer, dcgan's base channels; 0 = the arch's default.",
            min=0,
            max=4096,
        ),
    )


@dataclass(frozen=True)
class LossConfig:
    kind: str = field(
        default="nonsaturating",
        metadata=_key("GAN objective; switch it mid-run to compare.", choices=LOSSES, live=True),
    )
    gp_weight: float = field(
        default=10.0, metadata=_key("Gradient-penalty weight (wgan-gp only).", min=0.0, live=True)
    )


@dataclass(frozen=True)
class OptimConfig:
    lr_g: float = field(
        default=2e-4,
        metadata=_key("Generator learning rate (Adam).", min=0.0, max=10.0, min_exclusive=True, live=True),
    )
    lr_d: float = field(
        default=2e-4,
        metadata=_key(
            "Discriminator learning rate (Adam).", min=0.0, max=10.0, min_exclusive=True, live=True
        ),
    )
    beta1: float = field(default=0.5, metadata=_key("Adam beta1.", min=0.0, max=0.9999, live=True))
    beta2: float = field(default=0.999, metadata=_key("Adam beta2.", min=0.0, max=0.9999, live=True))
    d_steps: int = field(
        default=1, metadata=_key("Discriminator updates per generator update.", min=1, max=100, live=True)
    )


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = field(default=64, metadata=_key("Images per batch.", min=1, max=65536))
    steps: int = field(
        default=5000,
        metadata=_key("Generator updates to train for.", min=1, max=100_000_000, live=True),
    )
    seed: int = field(default=0, metadata=_key("Random seed.", min=0, max=2**63 - 1))
    device: str = field(
        default="auto", metadata=_key("auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps.")
    )
    ema: float = field(
        default=0.0,
        metadata=_key("Decay of the generator's weight EMA; 0 = off.", min=0.0, max=0.99999, live=True),
    )
    amp: bool = field(default=False, metadata=_key("bfloat16 autocast on CUDA (ignored on CPU)."))
    threads: int = field(
        default=0,
        metadata=_key(
            "CPU threads for torch; 0 = time 1 against more at start, leaving a core each to the "
            "GUI and the metrics thread.",
            min=0,
            max=256,
        ),
    )


@dataclass(frozen=True)
class LogConfig:
    every: int = field(
        default=10, metadata=_key("Steps between stats (averaged over the interval).", min=1, live=True)
    )
    sample_every: int = field(
        default=250, metadata=_key("Steps between sample grids; 0 = never.", min=0, live=True)
    )
    checkpoint_every: int = field(
        default=1000, metadata=_key("Steps between checkpoints; 0 = only at the end.", min=0, live=True)
    )
    keep_checkpoints: int = field(
        default=3, metadata=_key("Step checkpoints kept besides latest.pt.", min=1, max=1000, live=True)
    )
    out: str = field(default="runs", metadata=_key("Folder that holds the run folders."))
    name: str = field(
        default="", metadata=_key("Run name; empty = dataset-arch-loss. Run folder: <out>/<time>-<name>.")
    )
    tensorboard: bool = field(
        default=False,
        metadata=_key("Also write TensorBoard event files (scalars, metrics, sample grids, hyperparameter "
                      "changes) to <run>/tensorboard/ while training; needs the tensorboard extra.",
                      live=True),
    )


@dataclass(frozen=True)
class MetricsConfig:
    every: int = field(
        default=500,
        metadata=_key(
            "Steps between quality metrics (computed in the background on a copy of G; when training "
            "outruns them, the newest weights are evaluated and older waiting ones skipped; a completed "
            "run's last step is always evaluated); 0 = off.",
            min=0,
            live=True,
        ),
    )
    samples: int = field(
        default=1000,
        metadata=_key(
            "Generated samples per metrics evaluation, compared with as many real ones.",
            min=50,
            max=5000,
            live=True,
        ),
    )


@dataclass(frozen=True)
class HealthConfig:
    d_wins_loss: float = field(
        default=0.05,
        metadata=_key(
            "A 'd_wins' alert when D's loss stays below this for health.d_wins_window logged "
            "intervals; 0 = off. Not checked for wgan-gp, whose critic loss has no floor.",
            min=0.0,
            live=True,
        ),
    )
    d_wins_window: int = field(
        default=20,
        metadata=_key("Logged intervals in a row D's loss must stay low for a 'd_wins' alert.",
                      min=1, max=100000, live=True),
    )
    grad_max: float = field(
        default=1000.0,
        metadata=_key("A 'grad_explode' alert when grad_d or grad_g exceeds this; 0 = off.", min=0.0,
                      live=True),
    )
    grad_factor: float = field(
        default=50.0,
        metadata=_key(
            "A 'grad_explode' alert when grad_d or grad_g exceeds this many times its median over "
            "the last 50 logged intervals; 0 = off.",
            min=0.0,
            live=True,
        ),
    )
    collapse_diversity: float = field(
        default=0.25,
        metadata=_key(
            "A 'collapse' alert when the samples' mean pairwise distance falls below this fraction "
            "of real data's (checked at metrics steps); 0 = off.",
            min=0.0,
            max=1.0,
            live=True,
        ),
    )
    collapse_drop: float = field(
        default=0.35,
        metadata=_key(
            "A 'collapse' alert when the modes (2D) or classes covered fall below (1 - this) times "
            "the run's best so far (checked at metrics steps); 0 = off.",
            min=0.0,
            max=1.0,
            live=True,
        ),
    )
    overfit_gap: float = field(
        default=0.2,
        metadata=_key(
            "A 'd_overfit' alert when D's accuracy on training reals beats its accuracy on held-out "
            "reals (data.holdout) by more than this for health.overfit_window logged intervals; 0 = off.",
            min=0.0,
            max=1.0,
            live=True,
        ),
    )
    overfit_window: int = field(
        default=20,
        metadata=_key("Logged intervals in a row the gap must stay for a 'd_overfit' alert.",
                      min=1, max=100000, live=True),
    )


@dataclass(frozen=True)
class Config:
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    log: LogConfig = LogConfig()
    metrics: MetricsConfig = MetricsConfig()
    health: HealthConfig = HealthConfig()


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
    "health": HealthConfig,
}


class ConfigError(ValueError):
    """An invalid configuration. `problems` lists one readable message per bad key."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class KeyInfo:
    """What the validator, the CLI and the GUI know about one key such as 'optim.lr_g'."""

    key: str
    type: type
    default: Any
    help: str
    choices: tuple | None
    min: float | None
    max: float | None
    min_exclusive: bool
    live: bool


def _type_of(f: dataclasses.Field) -> type:
    return {"str": str, "int": int, "float": float, "bool": bool}[f.type]


def keys() -> list[KeyInfo]:
    """Every config key in definition order."""
    out = []
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            m = f.metadata
            out.append(
                KeyInfo(
                    key=f"{section}.{f.name}",
                    type=_type_of(f),
                    default=f.default,
                    help=m["help"],
                    choices=m["choices"],
                    min=m["min"],
                    max=m["max"],
                    min_exclusive=m["min_exclusive"],
                    live=m["live"],
                )
            )
    return out


KEYS: dict[str, KeyInfo] = {k.key: k for k in keys()}
LIVE_KEYS = frozenset(k.key for k in KEYS.values() if k.live)


def _allowed(info: KeyInfo) -> str:
    if info.choices is not None:
        return "one of " + ", ".join(repr(c) for c in info.choices)
    def num(v: float) -> str:  # ints exactly (2**63 - 1 must not print as 9.22337e+18)
        return str(v) if info.type is int else f"{v:g}"

    parts = []
    if info.min is not None:
        parts.append(f"> {num(info.min)}" if info.min_exclusive else f">= {num(info.min)}")
    if info.max is not None:
        parts.append(f"<= {num(info.max)}")
    kind = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}[info.type]
    return kind + (" " + " and ".join(parts) if parts else "")


class _ShortRepr(reprlib.Repr):
    """repr() cut to a readable length and depth: a message names a value, it does not reprint a
    megabyte of it, and an array nested 1,000 deep must not exhaust the stack while being shown."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, 80, 80, 40

    def repr_int(self, x: int, level: int) -> str:
        # repr() of an int over 4,300 digits raises ValueError (CPython's int-to-text limit).
        if x.bit_length() > 128:
            return f"<a whole number of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)


_show = _ShortRepr().repr


def unknown_key(key: Any) -> str:
    """The message for a key that is not a config key: the likely one when it is the right name in
    another section ('train.lr_d' -> 'optim.lr_d') or a near miss, then every known key."""
    guess = None
    if isinstance(key, str):
        name = key.lower().rsplit(".", 1)[-1]
        same_name = [k for k in KEYS if k.split(".")[1] == name]
        close = difflib.get_close_matches(key.lower(), list(KEYS), n=1, cutoff=0.75)
        guess = same_name[0] if len(same_name) == 1 else close[0] if close else None
    hint = f" (did you mean '{guess}'?)" if guess else ""
    return f"unknown key {_show(key)}{hint}; known keys: {', '.join(KEYS)}"


def _text_problem(key: str, value: str) -> str | None:
    """What stops a text value from being saved (TOML is UTF-8) or used in a path, or None."""
    if "\0" in value:
        return f"{key} = {_show(value)} contains a NUL character (\\x00), which no path can hold; remove it"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return (
            f"{key} = {_show(value)} contains a lone surrogate character, which cannot be saved as "
            "UTF-8; remove it"
        )
    if key == "log.name":
        if "/" in value or "\\" in value:
            return (
                f"{key} = {_show(value)} contains a path separator; it names one run folder inside "
                "log.out: use a name without / or \\ (put the parent folder in log.out)"
            )
        if value.strip() in (".", ".."):
            return f"{key} = {_show(value)} is not a folder name; use a name such as 'baseline'"
        size = len(value.encode("utf-8"))
        if size > RUN_NAME_MAX_BYTES:
            return (
                f"{key} = {_show(value)} is {size} bytes long; with the run folder's time stamp it "
                f"must fit in a 255-byte file name, so it may have at most {RUN_NAME_MAX_BYTES} bytes"
            )
    return None


def check_value(key: str, value: Any) -> str | None:
    """The problem with one key's value, or None. Used per field by the GUI and by `validate`."""
    info = KEYS.get(key) if isinstance(key, str) else None
    if info is None:
        return unknown_key(key)
    t = info.type
    shown = _show(value)
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
        return f"{key} = {shown} is {article} {kind}; it must be {_allowed(info)}"
    if t is float:
        try:  # an int from TOML or a checkpoint may be too large for any float
            finite = math.isfinite(value)
        except OverflowError:
            return f"{key} = {shown} is too large to be a number; it must be {_allowed(info)}"
        if not finite:
            return f"{key} = {shown} is not a finite number; it must be {_allowed(info)}"
    if t is str:
        problem = _text_problem(key, value)
        if problem:
            return problem
    if info.choices is not None and value not in info.choices:
        return f"{key} = {shown} is not allowed; it must be {_allowed(info)}"
    if info.min is not None and (value <= info.min if info.min_exclusive else value < info.min):
        return f"{key} = {shown} is too small; it must be {_allowed(info)}"
    if info.max is not None and value > info.max:
        return f"{key} = {shown} is too large; it must be {_allowed(info)}"
    if t is int and not INT_MIN <= value <= INT_MAX:
        return (
            f"{key} = {shown} is too large; it must be {_allowed(info)}, and a config file holds whole "
            f"numbers up to {INT_MAX}"
        )
    return None


def resolved_image_shape(data: DataConfig) -> tuple[int, int, int]:
    """(channels, height, width) the images will have; (0, 0, 2) stands for 2D points."""
    if data.dataset in DATASETS_2D:
        return (0, 0, 2)
    size, channels = NATIVE_SHAPE[data.dataset]
    size = data.image_size or size
    channels = data.channels or channels
    return (channels, size, size)


def is_2d(cfg: Config) -> bool:
    return cfg.data.dataset in DATASETS_2D


def _cross_checks(cfg: Config) -> list[str]:
    problems = []
    dev = cfg.train.device
    # ASCII digits only (str.isdigit takes '٣' and '²') and no leading zeros: torch refuses those,
    # and reads an index above 127 as a negative one.
    index = re.fullmatch(r"cuda:(0|[1-9][0-9]{0,2})", dev)
    if not (dev in ("auto", "cpu", "cuda", "mps") or (index and int(index[1]) <= 127)):
        problems.append(
            f"train.device = {_show(dev)} is not a device; use auto, cpu, cuda, cuda:N (N = 0..127) or mps"
        )
    if cfg.data.dataset != "folder" and cfg.data.dataset not in DATASETS_2D and 0 < cfg.data.image_size < 4:
        problems.append(f"data.image_size = {cfg.data.image_size} is too small; use 0 (native) or >= 4")
    if cfg.model.arch == "dcgan":
        if is_2d(cfg):
            problems.append(
                f"model.arch = 'dcgan' needs images, but data.dataset = {cfg.data.dataset!r} is 2D "
                "points; use model.arch = 'mlp'"
            )
        else:
            _, size, _ = resolved_image_shape(cfg.data)
            if size not in DCGAN_SIZES:
                problems.append(
                    f"model.arch = 'dcgan' needs data.image_size in {', '.join(map(str, DCGAN_SIZES))}; "
                    f"{cfg.data.dataset} would be {size}x{size}: set data.image_size to one of them"
                )
    if cfg.data.dataset == "folder" and not cfg.data.root.strip():
        problems.append("data.root is empty; for data.dataset = 'folder' it must be your image folder")
    return problems


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


def get(cfg: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


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
            shown = section if isinstance(section, str) and len(section) <= 80 else _show(section)
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
                values[key] = _as_float(value) if KEYS[key].type is float else value
    if problems:
        raise ConfigError(problems)
    cfg = with_values(Config(), values)
    try:
        return validate(cfg)
    except ConfigError as e:
        raise ConfigError([f"{source}: {p}" for p in e.problems]) from None


def _as_float(value: Any) -> Any:
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
        return ConfigError([f"{key} = {_show(text)} {why}; it must be {_allowed(info)}"])

    if t is bool:
        low = s.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise refuse("is not valid")
    if not s.isascii():
        raise refuse("is not valid (write numbers with the digits 0-9)")
    if t is int:
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
        raise ConfigError([f"cannot read config file {_show(str(p))}: {e}"]) from None
    return from_toml(text, source=str(p))


def save(cfg: Config, path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(to_toml(cfg), encoding="utf-8")
    tmp.replace(p)


def live_changes(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """{key: (old, new)} for every key that differs."""
    return {k: (get(old, k), get(new, k)) for k in KEYS if get(old, k) != get(new, k)}


#: Keys a run may change when it continues from a checkpoint (resumed or forked): the live ones, and
#: those that touch neither the models' or the data's shapes nor the random streams.
RESUMABLE_KEYS = LIVE_KEYS | frozenset(
    {"log.out", "log.name", "train.device", "train.threads", "train.amp"}
)
#: A fork may also draw its noise from another seed from the fork on (its models and data are the
#: parent's, so their shapes and the data order stay).
FORK_KEYS = RESUMABLE_KEYS | frozenset({"train.seed"})
LOCKED_WHY = {
    "train": "cannot change while training runs; stop training to change it",
    "resume": "is fixed by the checkpoint's models and data; it cannot change when a run continues",
    "fork": "is fixed by the checkpoint's models and data (their shapes or the data order); a fork "
            "can change the live keys, the loss and train.seed",
}


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
    refused ("<key> cannot change while training runs; ..."). Returns the new config and
    {key: (old, new)} for what changed; raises ConfigError listing every problem."""
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
                value = _as_float(value)
            values[key] = value
        new = with_values(current, values)
    new = validate(new)
    changes = live_changes(current, new)
    locked = sorted(k for k in changes if k not in allowed)
    if locked:
        raise ConfigError([f"{k} {LOCKED_WHY[why]}" for k in locked])
    return new, changes


def batch_split_problem(batch_size: int, processes: int) -> str | None:
    """Why train.batch_size (the global batch) cannot be split over `processes`, with the nearest
    sizes that can; None when it can."""
    if processes <= 1 or batch_size % processes == 0:
        return None
    lower = batch_size - batch_size % processes
    upper = lower + processes
    near = f"{lower} or {upper}" if lower > 0 else f"{upper}"
    return (f"train.batch_size = {batch_size} is the global batch and must divide by the {processes} "
            f"processes (WORLD_SIZE); use {near}")


def run_name(cfg: Config) -> str:
    return cfg.log.name or f"{cfg.data.dataset}-{cfg.model.arch}-{cfg.loss.kind}"


def fork_name(parent: Config, index: int | None = None) -> str:
    """A fork's default name: its parent's, then "-fork" (with a letter when several forks are made
    at once), so that a parent and its forks are told apart in the runs list and the plots' legend."""
    return f"{run_name(parent)}-fork" + ("" if index is None else f"-{chr(ord('a') + index)}")


def markdown_key_table() -> str:
    """The README's table of config keys, generated from the keys' own metadata."""
    rows = ["| key | default | live | allowed | meaning |", "|---|---|---|---|---|"]
    for info in KEYS.values():
        default = tomli_w.dumps({"v": info.default}).strip()[4:]
        rows.append(
            f"| `{info.key}` | `{default}` | {'yes' if info.live else ''} | {_allowed(info)} | {info.help} |"
        )
    return "\n".join(rows)
