"""The plain-data events of a run, and their one line of JSON each in metrics.jsonl.

Every consumer (the run folder writer, the run model the CLI and the GUI keep, an exporter) reads
the same stream. Events hold only Python scalars, small dicts, strings and CPU numpy arrays, so they
can cross threads and processes and be written to disk as they are.

Each event class names its line kind (`KIND`) and converts itself to a JSON-ready record
(`record()`); `from_record` is the way back, used by every reader of a run folder. So what a line
of metrics.jsonl means is written down here, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ganstudio.core.extent import Extent

# Stats keys, in display order. d_real/d_fake are D's mean output on real and generated data:
# probabilities for minimax/nonsaturating, raw scores for hinge/lsgan/wgan-gp.
STAT_KEYS = (
    "loss_d",
    "loss_g",
    "d_real",
    "d_fake",
    "grad_d",
    "grad_g",
    "lr_d",
    "lr_g",
    "images_per_s",
)


def json_safe(v: Any) -> Any:
    """JSON has no NaN/Infinity; null keeps every line parseable by any reader."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _num(v: Any) -> float:
    """A number read back from a record (null -> NaN)."""
    return math.nan if v is None else float(v)


@dataclass(frozen=True)
class RunStarted:
    run_dir: str | None
    config: dict[str, dict[str, Any]]
    device: str
    step: int  # the step it starts from (non-zero on resume)
    total_steps: int
    threads: int
    host: str = ""
    pid: int = 0
    world_size: int = 1
    backend: str = ""

    KIND: ClassVar[str] = "started"

    def record(self) -> dict[str, Any]:
        # The config is in config.toml beside the log; a line stays short.
        return {
            "event": self.KIND,
            "step": self.step,
            "device": self.device,
            "total_steps": self.total_steps,
            "threads": self.threads,
            "host": self.host,
            "pid": self.pid,
            "world_size": self.world_size,
            "backend": self.backend,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> RunStarted:
        return cls(
            run_dir=None,
            config={},
            device=str(r.get("device", "")),
            step=int(r["step"]),
            total_steps=int(r.get("total_steps", 0)),
            threads=int(r.get("threads", 0)),
            host=str(r.get("host", "")),
            pid=int(r.get("pid", 0)),
            world_size=int(r.get("world_size", 1)),
            backend=str(r.get("backend", "")),
        )


@dataclass(frozen=True)
class Stats:
    """Losses and D outputs averaged over the log interval that ends at `step`; gradient norms and
    learning rates as of that step."""

    step: int
    epoch: float
    wall: float  # seconds of training since the run began, summed over sessions
    values: dict[str, float]

    KIND: ClassVar[str] = "stats"

    def record(self) -> dict[str, Any]:
        rec = {"event": self.KIND, "step": self.step, "epoch": self.epoch, "wall": self.wall}
        rec.update({k: json_safe(v) for k, v in self.values.items()})
        return rec

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Stats:
        values = {k: _num(v) for k, v in r.items() if k not in _STATS_FIELDS}
        return cls(
            step=int(r["step"]), epoch=_num(r.get("epoch", 0.0)), wall=_num(r.get("wall", 0.0)), values=values
        )


_STATS_FIELDS = frozenset(("event", "step", "epoch", "wall"))


@dataclass(frozen=True, eq=False)
class StatsBlock:
    """Many stats points at once, as columns: what a reader of a long metrics.jsonl hands on, so a
    million points cross threads as a few arrays rather than a million objects. Never written."""

    steps: np.ndarray  # int64
    epochs: np.ndarray
    walls: np.ndarray
    values: dict[str, np.ndarray]  # float64, NaN where a point lacks the key

    KIND: ClassVar[str] = "stats_block"

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Samples:
    """Generator output on the fixed noise batch: `grid` is an HxWxC uint8 image for image data,
    `points` an (n, 2) float32 array for 2D data.

    2D data also gets the lab's view (ganstudio.core.train.lab): `field`, a (res, res) float32 array of
    D's output (probability or raw score, as in the plots) over `extent` = (xmin, xmax, ymin, ymax),
    row 0 at ymin; and `arrows`, (n, 2) float32, the push -d(loss_g)/dx on each of the points.
    In metrics.jsonl a samples line names the file the writer saved them to.

    `generator`, only while the latent explorer asks for it (Trainer.share_generator): a
    ganstudio.core.latent.GeneratorWeights, the generator these samples were drawn with as numpy
    state_dicts. Never written to the run folder.

    `augmented`, for images while data.augment is on: a grid of training reals as D sees them now
    (the samples panel's "Augmented reals"). Never written to the run folder either."""

    step: int
    grid: np.ndarray | None = None
    points: np.ndarray | None = None
    field: np.ndarray | None = None
    extent: Extent | None = None  # (xmin, xmax, ymin, ymax)
    arrows: np.ndarray | None = None
    field_is_probability: bool | None = None  # True: field in [0, 1]; False: raw scores
    generator: Any = None  # GeneratorWeights | None (core.latent imports torch; events does not)
    augmented: np.ndarray | None = None  # HxWxC uint8, like grid

    KIND: ClassVar[str] = "samples"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step}  # the writer adds "file"


@dataclass(frozen=True)
class HyperparamsChanged:
    step: int  # the first step that uses the new values
    changes: dict[str, tuple[Any, Any]]  # key -> (old, new)

    KIND: ClassVar[str] = "hparams"

    def record(self) -> dict[str, Any]:
        return {
            "event": self.KIND,
            "step": self.step,
            "changes": {k: [json_safe(old), json_safe(new)] for k, (old, new) in self.changes.items()},
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> HyperparamsChanged:
        changes = {str(k): (v[0], v[1]) for k, v in dict(r["changes"]).items()}
        return cls(step=int(r["step"]), changes=changes)

    def describe(self) -> str:
        return ", ".join(
            f"{k}: {old:g} → {new:g}"
            if isinstance(new, float) and isinstance(old, float)
            else f"{k}: {old} → {new}"
            for k, (old, new) in self.changes.items()
        )


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str  # absolute when made; a run folder's log stores it relative to the folder
    manual: bool = False  # asked for by the user: never rotated away

    KIND: ClassVar[str] = "checkpoint"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step, "path": self.path, "manual": self.manual}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> CheckpointSaved:
        return cls(step=int(r["step"]), path=str(r.get("path", "")), manual=bool(r.get("manual", False)))


@dataclass(frozen=True)
class CheckpointFailed:
    step: int
    path: str
    message: str

    KIND: ClassVar[str] = "checkpoint_failed"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step, "path": self.path, "message": self.message}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> CheckpointFailed:
        return cls(step=int(r["step"]), path=str(r.get("path", "")), message=str(r.get("message", "")))


@dataclass(frozen=True)
class Paused:
    step: int
    reason: str = ""  # empty when the user paused; else why training paused itself

    KIND: ClassVar[str] = "paused"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step, "reason": self.reason}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Paused:
        return cls(step=int(r["step"]), reason=str(r.get("reason") or ""))


@dataclass(frozen=True)
class Resumed:
    step: int

    KIND: ClassVar[str] = "resumed"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Resumed:
        return cls(step=int(r["step"]))


@dataclass(frozen=True)
class Metrics:
    """Quality metrics of the generator's weights at `step` (ganstudio.core.metrics), computed in
    the background: the event arrives some steps later, so its step can be behind the events
    around it. `values` holds each metric, its bootstrap std as `<key>_std`, and the sample
    count `n`."""

    step: int
    values: dict[str, float]

    KIND: ClassVar[str] = "metrics"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step, **{k: json_safe(v) for k, v in self.values.items()}}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Metrics:
        values = {k: _num(v) for k, v in r.items() if k not in ("event", "step")}
        return cls(step=int(r["step"]), values=values)


@dataclass(frozen=True)
class System:
    """What one process of the run (`rank`; 0 alone) uses of its machine, read at `step` by
    ganstudio.core.run.system: its CPU use since its previous reading (percent of one core: 2
    busy threads read 200), its resident memory, and on a GPU the device's utilisation (NVML,
    where nvidia-ml-py is installed) and the memory torch has allocated and reserved on it.
    A reading the process cannot make is None, and absent from its line. `time` is the clock
    of the machine that wrote the line (seconds since the epoch); `host` and `devices` say
    where the process runs."""

    step: int
    time: float
    rank: int = 0
    cpu_percent: float | None = None
    rss_mb: float | None = None
    gpu_util: float | None = None
    gpu_mem_mb: float | None = None
    gpu_mem_reserved_mb: float | None = None
    host: str = ""
    devices: tuple[str, ...] = ()

    KIND: ClassVar[str] = "system"
    #: The readings, in the line's order; each is a series of the run's history per rank.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "cpu_percent",
        "rss_mb",
        "gpu_util",
        "gpu_mem_mb",
        "gpu_mem_reserved_mb",
    )

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"event": self.KIND, "step": self.step, "time": self.time, "rank": self.rank}
        for name in self.FIELDS:
            value = json_safe(getattr(self, name))
            if value is not None:
                rec[name] = value
        rec["host"] = self.host
        rec["devices"] = list(self.devices)
        return rec

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> System:
        readings = {name: None if r.get(name) is None else float(r[name]) for name in cls.FIELDS}
        devices = r.get("devices") or ()
        if not isinstance(devices, (list, tuple)):
            raise ValueError(f"devices is a {type(devices).__name__}, not a list")
        return cls(
            step=int(r["step"]),
            time=float(r.get("time") or 0.0),
            rank=int(r.get("rank") or 0),
            host=str(r.get("host") or ""),
            devices=tuple(str(d) for d in devices),
            **readings,
        )

    def series(self) -> dict[str, float]:
        """The readings as the history's keys: "system.<reading>.rank<rank>"."""
        return {
            f"system.{name}.rank{self.rank}": float(value)
            for name in self.FIELDS
            if (value := getattr(self, name)) is not None
        }


@dataclass(frozen=True)
class Alert:
    """A warning for the user: `kind` is a stable identifier. Health: nan, d_wins, grad_explode,
    collapse. Requests and files: config (a refused live edit), control (an unreadable request in
    the control file), compile (train.compile could not be used: the run trains eager), metrics
    (an evaluation that failed), disk (a sample, checkpoint or log line that could not be written)."""

    step: int
    kind: str
    message: str
    evidence: dict[str, float] = field(default_factory=dict)

    KIND: ClassVar[str] = "alert"
    #: Kinds that answer a request rather than describe the GAN: not marked on the plots.
    REQUEST_KINDS: ClassVar[frozenset[str]] = frozenset(("config", "control", "compile"))

    def record(self) -> dict[str, Any]:
        return {
            "event": self.KIND,
            "step": self.step,
            "kind": self.kind,
            "message": self.message,
            "evidence": {k: json_safe(v) for k, v in self.evidence.items()},
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Alert:
        evidence = {
            str(k): (_num(v) if v is None or isinstance(v, (int, float)) else v)
            for k, v in dict(r.get("evidence") or {}).items()
        }
        return cls(
            step=int(r["step"]),
            kind=str(r.get("kind", "")),
            message=str(r.get("message", "")),
            evidence=evidence,
        )


@dataclass(frozen=True)
class Marker:
    """A dashed line on the plots: kind "hparams", "checkpoint", "nan", "converged" (a 2D toy's
    samples first met core.metrics.converged's rule: core/train/loop.py) or an alert's kind. Older run
    folders and checkpoints stored markers as they are ("marker" lines)."""

    step: int
    kind: str
    text: str
    tag: str = ""  # "manual" on a checkpoint the user asked for (drawn as a full line, not a tick)

    KIND: ClassVar[str] = "marker"

    def record(self) -> dict[str, Any]:
        rec = {"event": self.KIND, "step": self.step, "kind": self.kind, "text": self.text}
        if self.tag:
            rec["tag"] = self.tag
        return rec

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Marker:
        return cls(
            step=int(r["step"]),
            kind=str(r.get("kind", "")),
            text=str(r.get("text", "")),
            tag=str(r.get("tag") or ""),
        )


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str  # "completed" or "stopped"

    KIND: ClassVar[str] = "finished"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step, "reason": self.reason}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Finished:
        return cls(step=int(r["step"]), reason=str(r.get("reason", "stopped")))


@dataclass(frozen=True)
class Failed:
    step: int
    message: str
    traceback: str = ""

    KIND: ClassVar[str] = "failed"

    def record(self) -> dict[str, Any]:
        return {"event": self.KIND, "step": self.step, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Failed:
        return cls(
            step=int(r["step"]), message=str(r.get("message", "")), traceback=str(r.get("traceback", ""))
        )


@dataclass(frozen=True)
class Heartbeat:
    """The training process is alive: read from the run folder's heartbeat file, never logged."""

    time: float  # the training machine's clock
    step: int
    status: str  # "running" or "paused"
    host: str = ""
    pid: int = 0
    steps_per_s: float = math.nan
    #: The `stalled` alert while the step has not moved since it (the run's stream gets it only
    #: when the loop moves again): a follower shows a hung run's stall from its heartbeat.
    stalled: Alert | None = None

    KIND: ClassVar[str] = "heartbeat"


@dataclass(frozen=True)
class Stale:
    """No heartbeat for `seconds`: the training process died, or the folder stopped syncing."""

    seconds: float

    KIND: ClassVar[str] = "stale"


@dataclass(frozen=True)
class SourceStatus:
    """What a follower of a run folder can say about the folder itself: "ok", or a problem such as
    a torn line, a rewritten log or a folder that disappeared, with a message for the user."""

    state: str
    message: str = ""

    KIND: ClassVar[str] = "source"


Event = (
    RunStarted
    | Stats
    | StatsBlock
    | Samples
    | HyperparamsChanged
    | CheckpointSaved
    | CheckpointFailed
    | Paused
    | Resumed
    | Metrics
    | System
    | Alert
    | Marker
    | Finished
    | Failed
    | Heartbeat
    | Stale
    | SourceStatus
)

#: Line kinds of metrics.jsonl and the event each reads back as ("samples" lines are read by the
#: run folder, which loads the file they name).
LOGGED: dict[str, Any] = {
    cls.KIND: cls
    for cls in (
        RunStarted,
        Stats,
        HyperparamsChanged,
        CheckpointSaved,
        CheckpointFailed,
        Paused,
        Resumed,
        Metrics,
        System,
        Alert,
        Marker,
        Finished,
        Failed,
    )
}


class RecordError(ValueError):
    """A metrics.jsonl line that is valid JSON but not a record this version knows."""


def from_record(rec: Any) -> Event:
    """The event a metrics.jsonl record describes; RecordError if it is not one."""
    if not isinstance(rec, dict):
        raise RecordError(f"a line holds a {type(rec).__name__}, not an object")
    kind = rec.get("event")
    cls = LOGGED.get(kind)
    if cls is None:
        raise RecordError(f"unknown line kind {kind!r}")
    try:
        return cls.from_record(rec)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise RecordError(f"a {kind!r} line is malformed ({type(e).__name__}: {e})") from None
