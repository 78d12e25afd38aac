"""The run configuration: nested frozen dataclasses, one validator, TOML in and out.

Every key carries its own description in field metadata (`help`, `choices`, `min`/`max`, `live`):
the validator, the CLI's `--set`, the GUI's hyperparameter panel and the README's key table all
read it from here, so there is one definition of what a key means and what it allows.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
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


@dataclass(frozen=True)
class MetricsConfig:
    every: int = field(
        default=500,
        metadata=_key(
            "Steps between quality metrics (computed in the background on a copy of G); 0 = off.",
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


def check_value(key: str, value: Any) -> str | None:
    """The problem with one key's value, or None. Used per field by the GUI and by `validate`."""
    info = KEYS.get(key)
    if info is None:
        return f"unknown key '{key}'; known keys: {', '.join(KEYS)}"
    t = info.type
    ok_type = (
        isinstance(value, bool)
        if t is bool
        else isinstance(value, t) and not isinstance(value, bool)
        if t in (int, str)
        else isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok_type:
        kind = type(value).__name__
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{key} = {value!r} is {article} {kind}; it must be {_allowed(info)}"
    if t is float and not math.isfinite(value):
        return f"{key} = {value!r} is not a finite number; it must be {_allowed(info)}"
    if info.choices is not None and value not in info.choices:
        return f"{key} = {value!r} is not allowed; it must be {_allowed(info)}"
    if info.min is not None and (value <= info.min if info.min_exclusive else value < info.min):
        return f"{key} = {value!r} is too small; it must be {_allowed(info)}"
    if info.max is not None and value > info.max:
        return f"{key} = {value!r} is too large; it must be {_allowed(info)}"
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
    if not (dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        problems.append(f"train.device = {dev!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
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
        raise ConfigError([f"unknown key '{k}'; known keys: {', '.join(KEYS)}" for k in unknown])
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
            problems.append(f"{source}: unknown section [{section}]; known: {', '.join(SECTIONS)}")
            continue
        if not isinstance(table, dict):
            problems.append(f"{source}: [{section}] must be a table of keys")
            continue
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in KEYS:
                problems.append(f"{source}: unknown key '{key}'")
            else:
                # TOML has no int/float distinction for 1 vs 1.0 that users care about.
                if KEYS[key].type is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                values[key] = value
    if problems:
        raise ConfigError(problems)
    cfg = with_values(Config(), values)
    try:
        return validate(cfg)
    except ConfigError as e:
        raise ConfigError([f"{source}: {p}" for p in e.problems]) from None


def parse_value(key: str, text: str) -> Any:
    """Parse a command-line or text-field value for `key` into its type (no range checks)."""
    info = KEYS.get(key)
    if info is None:
        raise ConfigError([f"unknown key '{key}'; known keys: {', '.join(KEYS)}"])
    t = info.type
    s = text.strip()
    try:
        if t is bool:
            low = s.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if t is int:
            try:
                return int(s)
            except ValueError:
                f = float(s)  # "1e4" steps is a whole number too; 2.5 is not
                if not f.is_integer():
                    raise
                return int(f)
        if t is float:
            return float(s)
        return s
    except ValueError:
        raise ConfigError([f"{key} = {text!r} is not valid; it must be {_allowed(info)}"]) from None


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
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{source} is not valid TOML: {e}"]) from None
    return from_dict(d, source=source)


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {p} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"cannot read config file {p}: {e}"]) from None
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


def run_name(cfg: Config) -> str:
    return cfg.log.name or f"{cfg.data.dataset}-{cfg.model.arch}-{cfg.loss.kind}"


def markdown_key_table() -> str:
    """The README's table of config keys, generated from the keys' own metadata."""
    rows = ["| key | default | live | allowed | meaning |", "|---|---|---|---|---|"]
    for info in KEYS.values():
        default = tomli_w.dumps({"v": info.default}).strip()[4:]
        rows.append(
            f"| `{info.key}` | `{default}` | {'yes' if info.live else ''} | {_allowed(info)} | {info.help} |"
        )
    return "\n".join(rows)
