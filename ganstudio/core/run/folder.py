"""The run folder: a documented, versioned format that other processes and machines read and write.

    <log.out>/<YYYYmmdd-HHMMSS>-<name>/
        run.json          {"format": "ganstudio-run", "version": 1, "created", "host", "name", "note",
                          "parent": {"run", "step", "checkpoint"} for a fork}
        config.toml       the run's config (rewritten when a live edit changes it)
        metrics.jsonl     one event per line (ganstudio.core.events), appended and flushed per line
        samples/          step-000000250.png sample grids; 2D toys: a scatter .png, the points as .npy
                          and D's field and G's push as .lab.npz
        checkpoints/      step-000001000.pt (the last log.keep_checkpoints of them), manual-….pt
                          (asked for by the user: never rotated away) and latest.pt (the newest)
        control.jsonl     requests from a watching app, one JSON object per line (ganstudio.core.steer)
        heartbeat.json    the training process's pulse, rewritten every few seconds
        tensorboard/      TensorBoard event files, when log.tensorboard is on (ganstudio.core.tensorboard)

    <log.out>/.trash/     run folders the user moved to the trash (ganstudio.core.runs), kept until
                          emptied by hand

This module is the only one that knows these names. Version 1 is this layout; folders written
before run.json existed read as version 1 too. A reader refuses a folder of a newer version.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio.core.config import Config, ConfigError, load, run_name, save

FORMAT = "ganstudio-run"
VERSION = 1
CONFIG = "config.toml"
METRICS = "metrics.jsonl"
META = "run.json"
CONTROL = "control.jsonl"
HEARTBEAT = "heartbeat.json"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
LATEST = "latest.pt"
TENSORBOARD = "tensorboard"
TRASH = ".trash"  # in the folder that holds the run folders
_STEP_FILE = re.compile(r"^(step|manual)-(\d+)\.pt$")
_SAMPLE_FILE = re.compile(r"^step-(\d+)\.png$")


class RunFolderError(Exception):
    """A run folder that cannot be made, written or read; str(e) names the path and what to do."""


def describe_os_error(e: BaseException) -> str:
    """An OSError (or the ValueError open() raises for a NUL in a path) as a short reason."""
    if isinstance(e, OSError):
        if e.errno == errno.ENOSPC:
            return "the disk is full"
        if e.errno == errno.EDQUOT:
            return "the disk quota is exceeded"
        if e.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        if e.errno == errno.EROFS:
            return "the file system is read-only"
        if e.errno == errno.ENAMETOOLONG:
            return "a name in the path is too long for the file system"
        if e.errno == errno.ENOTDIR:
            return "a file is in the way where a folder should be"
        return e.strerror or str(e)
    return str(e)


def free_space(path: str | Path) -> str:
    """"1.2 MB free" on the file system of `path` (or of its nearest existing parent), or "" when
    that cannot be told."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return f"{size_text(shutil.disk_usage(p).free)} free"
    except OSError:
        return ""


def size_text(n: float) -> str:
    """'812 bytes', '3.3 MB': in units of 1000, as the disk tools of most desktops count."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"


@dataclass(frozen=True)
class CheckpointFile:
    step: int
    path: Path
    manual: bool


class CheckpointStore:
    """A folder of checkpoints: step-N.pt rotated to the newest `keep`, manual-N.pt kept, latest.pt."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @property
    def latest(self) -> Path:
        return self.folder / LATEST

    def path_for(self, step: int, manual: bool = False) -> Path:
        return self.folder / f"{'manual' if manual else 'step'}-{step:09d}.pt"

    def files(self) -> list[CheckpointFile]:
        """Step and manual checkpoints, oldest first (latest.pt is another name for the newest)."""
        if not self.folder.is_dir():
            return []
        found = []
        with contextlib.suppress(OSError):
            for p in self.folder.iterdir():
                m = _STEP_FILE.match(p.name)
                if m:
                    found.append(CheckpointFile(int(m.group(2)), p, m.group(1) == "manual"))
        return sorted(found, key=lambda c: (c.step, c.manual))

    def latest_existing(self) -> Path | None:
        if self.latest.exists():
            return self.latest
        files = self.files()
        return files[-1].path if files else None

    def save(self, obj: dict[str, Any], step: int, keep: int, manual: bool = False) -> Path:
        """Save as step-N.pt (or manual-N.pt), point latest.pt at it, then delete all but the `keep`
        newest step files. Old files go only after the new one and latest.pt are complete, so there
        is always a loadable checkpoint on disk; manual ones are never deleted."""
        from ganstudio.core import checkpoints

        path = checkpoints.save_atomic(obj, self.path_for(step, manual))
        tmp = self.folder / f".{LATEST}.link.tmp"
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.link(path, tmp)  # a second name for the same bytes: no second write
            os.replace(tmp, self.latest)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            checkpoints.save_atomic(obj, self.latest)
        automatic = [c for c in self.files() if not c.manual]
        for old in automatic[: max(0, len(automatic) - keep)]:
            with contextlib.suppress(OSError):
                old.path.unlink()
        return path


def step_in_name(name: str) -> int | None:
    """The step a step or manual checkpoint's file name holds (None for any other name)."""
    m = _STEP_FILE.match(name)
    return int(m.group(2)) if m else None


def step_path(folder: str | Path, step: int) -> Path:
    """The automatic checkpoint of `step` in a checkpoints folder."""
    return CheckpointStore(folder).path_for(step)


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the step and manual checkpoints in `folder`, oldest first."""
    return [(c.step, c.path) for c in CheckpointStore(folder).files()]


class RunFolder:
    def __init__(self, path: str | Path):
        # Absolute from the start: every path derived from it (checkpoints, samples) then means the
        # same file whatever the working directory, and is never resolved against the folder twice
        # (the default log.out is the relative "runs").
        self.path = Path(path).expanduser().absolute()

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    # ----- layout ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def meta_path(self) -> Path:
        return self.path / META

    @property
    def control_path(self) -> Path:
        return self.path / CONTROL

    @property
    def heartbeat_path(self) -> Path:
        return self.path / HEARTBEAT

    @property
    def samples_dir(self) -> Path:
        return self.path / SAMPLES

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def checkpoints(self) -> CheckpointStore:
        return CheckpointStore(self.checkpoints_dir)

    def latest_checkpoint(self) -> Path | None:
        return self.checkpoints.latest_existing()

    def relative(self, path: str | Path) -> str:
        """`path` relative to the folder when it is inside it (a log line must survive a sync to
        another machine), else as it is."""
        p = Path(path)
        with contextlib.suppress(ValueError, OSError):
            return p.resolve().relative_to(self.path.resolve()).as_posix()
        return str(p)

    def resolve(self, logged: str) -> Path:
        """A path from a log line: relative ones are inside the folder; an absolute one from
        another machine falls back to the file of that name in the folder's checkpoints."""
        p = Path(logged)
        if not p.is_absolute():
            return self.path / p
        if not p.exists() and (self.checkpoints_dir / p.name).exists():
            return self.checkpoints_dir / p.name
        return p

    # ----- making and recognising ----------------------------------------------------------------

    @classmethod
    def create(cls, cfg: Config, out: str | Path | None = None, now: float | None = None,
               parent: dict[str, Any] | None = None) -> RunFolder:
        """Make a new, unique run folder under `out` (default cfg.log.out), with its run.json."""
        base_dir = Path(out if out is not None else cfg.log.out).expanduser()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        base = f"{stamp}-{run_name(cfg)}"
        for i in range(1000):
            path = base_dir / (base if i == 0 else f"{base}-{i}")
            try:
                path.mkdir(parents=True)
            except FileExistsError:
                if not base_dir.is_dir():
                    raise RunFolderError(
                        f"cannot make a run folder in {base_dir}: it is a file, not a folder; "
                        "choose another runs folder (log.out)") from None
                continue
            except (OSError, ValueError) as e:
                raise RunFolderError(
                    f"cannot make the run folder {path}: {describe_os_error(e)}. Choose another "
                    "runs folder (log.out) or run name (log.name)") from None
            folder = cls(path)
            try:
                folder.write_meta({"created": time.time() if now is None else now,
                                   "host": socket.gethostname(), "name": run_name(cfg),
                                   "parent": parent})
            except RunFolderError:
                with contextlib.suppress(OSError):
                    path.rmdir()
                raise
            return folder
        raise RunFolderError(f"cannot make a new run folder under {base_dir}: 1000 folders named {base} "
                             "exist already")

    @classmethod
    def of_checkpoint(cls, path: str | Path) -> RunFolder | None:
        """The run folder a checkpoint lives in (…/run/checkpoints/x.pt), if it is in one."""
        p = Path(path).resolve()
        run = p.parent.parent
        if p.parent.name == CHECKPOINTS and (run / CONFIG).exists():
            return cls(run)
        return None

    def is_run(self) -> bool:
        """Whether this looks like a run folder at all (a config or a log in it)."""
        return self.config_path.is_file() or self.metrics_path.is_file()

    def remove_if_empty(self) -> None:
        """Remove a folder nothing was written to (a run that never started)."""
        with contextlib.suppress(OSError):
            if any(self.samples_dir.glob("*")) or any(self.checkpoints_dir.glob("*.pt")):
                return
            if self.metrics_path.exists() and self.metrics_path.stat().st_size:
                return
            shutil.rmtree(self.path)

    # ----- run.json ----------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """run.json as a dict ({} for a folder written before it existed)."""
        try:
            data = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise RunFolderError(f"{self.meta_path} cannot be read: {describe_os_error(e)}") from None
        if not isinstance(data, dict):
            raise RunFolderError(f"{self.meta_path} is not a run description (not a JSON object)")
        return data

    def write_meta(self, updates: dict[str, Any]) -> None:
        """Merge `updates` into run.json (atomically)."""
        try:
            data = self.meta()
        except RunFolderError:
            data = {}
        data.update(updates)
        data["format"], data["version"] = FORMAT, VERSION
        _write_atomic(self.meta_path, json.dumps(data, indent=1) + "\n")

    def version_problem(self) -> str | None:
        """Why this build cannot read the folder (a newer format, a foreign run.json), or None."""
        try:
            meta = self.meta()
        except RunFolderError as e:
            return str(e)
        if not meta:
            return None
        if meta.get("format") != FORMAT:
            return f"{self.meta_path} is not a GAN Studio run description"
        version = meta.get("version")
        if not isinstance(version, int) or version > VERSION:
            return (f"{self.path} was written by a newer GAN Studio (run folder format {version!r}; "
                    f"this one reads {VERSION}): update GAN Studio to open it")
        return None

    @property
    def parent(self) -> dict[str, Any] | None:
        """For a fork: {"run": folder path, "step": N, "checkpoint": path} of what it continued."""
        with contextlib.suppress(RunFolderError):
            parent = self.meta().get("parent")
            return parent if isinstance(parent, dict) else None
        return None

    # ----- config ------------------------------------------------------------------------------

    def load_config(self) -> Config:
        return load(self.config_path)

    def save_config(self, cfg: Config) -> None:
        try:
            save(cfg, self.config_path)
        except (OSError, ValueError) as e:
            raise RunFolderError(f"cannot write {self.config_path}: {describe_os_error(e)}") from None

    def try_config(self) -> tuple[Config | None, str]:
        """(config, "") or (None, why it cannot be read)."""
        if not self.config_path.exists():
            return None, f"{self.path} has no {CONFIG}: it is not a run folder, or its files did not sync"
        try:
            return self.load_config(), ""
        except ConfigError as e:
            return None, "; ".join(e.problems)

    # ----- samples -----------------------------------------------------------------------------

    def sample_path(self, step: int) -> Path:
        """The PNG of the samples at `step` (for 2D data the scatter; its points are beside it)."""
        return self.samples_dir / f"step-{step:09d}.png"

    def sample_timeline(self, up_to_step: int | None = None) -> list[tuple[int, Path]]:
        """(step, png) of the folder's sample grids, by step."""
        out = []
        if self.samples_dir.is_dir():
            with contextlib.suppress(OSError):
                for p in self.samples_dir.iterdir():
                    m = _SAMPLE_FILE.match(p.name)
                    if m and (up_to_step is None or int(m.group(1)) <= up_to_step):
                        out.append((int(m.group(1)), p))
        return sorted(out)

    def write_samples(self, step: int, grid: np.ndarray | None, points: np.ndarray | None,
                      reference: np.ndarray | None = None, lab: dict[str, Any] | None = None) -> Path:
        """Write one step's samples; returns the PNG's path. Raises OSError."""
        png = self.sample_path(step)
        png.parent.mkdir(parents=True, exist_ok=True)
        if grid is not None:
            save_grid_png(grid, png)
        elif points is not None:
            np.save(png.with_suffix(".npy"), points)
            if lab:
                with open(png.with_suffix(".lab.npz"), "wb") as f:
                    np.savez(f, **lab)
            scatter_png(points, reference).save(png)
        return png

    def read_samples(self, png: Path, points: bool) -> dict[str, Any] | None:
        """{"grid": HxWxC uint8} or {"points": (n, 2), and "field", "extent", "arrows",
        "field_is_probability" when saved}, or None if the files cannot be read (yet)."""
        if points:
            try:
                out: dict[str, Any] = {"points": np.load(png.with_suffix(".npy"), allow_pickle=False)}
            except (OSError, ValueError, EOFError):
                return None
            with contextlib.suppress(OSError, ValueError, EOFError, KeyError):
                with np.load(png.with_suffix(".lab.npz"), allow_pickle=False) as lab:
                    out["field"] = lab["field"]
                    out["arrows"] = lab["arrows"]
                    out["extent"] = tuple(float(v) for v in lab["extent"])
                    out["field_is_probability"] = bool(lab["field_is_probability"])
            return out
        from PIL import Image

        try:
            with Image.open(png) as im:
                arr = np.asarray(im.convert("L" if im.mode in ("L", "1", "P", "I", "I;16") else "RGB"))
        except (OSError, ValueError, SyntaxError):
            return None
        return {"grid": arr[:, :, None] if arr.ndim == 2 else arr}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError) as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise RunFolderError(f"cannot write {path}: {describe_os_error(e)}") from None


def save_grid_png(grid: np.ndarray, path: str | Path) -> None:
    from PIL import Image

    img = grid[:, :, 0] if grid.shape[2] == 1 else grid
    Image.fromarray(img).save(path)


def scatter_png(points: np.ndarray, reference: np.ndarray | None = None, size: int = 400):
    """A quick PNG of 2D samples (blue) over real data (grey), for the run folder and the CLI."""
    from PIL import Image

    both = points if reference is None else np.concatenate([points, reference])
    finite = both[np.isfinite(both).all(axis=1)]
    lim = float(np.abs(finite).max()) * 1.1 if finite.size else 1.0
    lim = max(lim, 1e-3)
    # Vectorised: 50,000 reference points drawn one by one cost ~0.2 s per sample event.
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    for pts, colour in ((reference, (190, 190, 190)), (points, (31, 119, 180))):
        if pts is None:
            continue
        pts = pts[np.isfinite(pts).all(axis=1)]
        px = np.rint((pts / lim * 0.5 + 0.5) * (size - 1)).astype(int)
        cols, rows = px[:, 0], size - 1 - px[:, 1]
        for dy in (-1, 0, 1):  # 3x3 dots
            for dx in (-1, 0, 1):
                r, c = np.clip(rows + dy, 0, size - 1), np.clip(cols + dx, 0, size - 1)
                canvas[r, c] = colour
    return Image.fromarray(canvas)
