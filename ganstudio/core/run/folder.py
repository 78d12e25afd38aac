"""The run folder: a documented, versioned format that other processes and machines read and write.

    <log.out>/<YYYYmmdd-HHMMSS>-<name>/
        run.json          {"format": "ganstudio-run", "version": 1, "created", "host", "name", "note",
                          "parent": {"run", "step", "checkpoint"} for a fork}
        config.toml       the run's config (rewritten when a live edit changes it)
        metrics.jsonl     one event per line (ganstudio.core.run.events), appended and flushed per line
        samples/          step-000000250.png sample grids; 2D toys: a scatter .png, the points as .npy
                          and D's field and G's push as .lab.npz
        checkpoints/      step-000001000.pt (the last log.keep_checkpoints of them), manual-….pt
                          (asked for by the user: never rotated away) and latest.pt (the newest)
        control.jsonl     requests from a watching app, one JSON object per line (ganstudio.core.run.steer)
        heartbeat.json    the training process's pulse, rewritten every few seconds
        tensorboard/      TensorBoard event files, when log.tensorboard is on (ganstudio.core.run.tensorboard)
        model/            your own model's file (model.arch = FILE.py:FUNCTION), copied as it was
                          imported, and SHA256SUMS ("<sha256>  <name>" per copy, as sha256sum writes);
                          run.json's "model" says which file was imported: {"arch", "path", "sha256",
                          "module", "copy"}

    <log.out>/.trash/     run folders the user moved to the trash (ganstudio.core.run.listing), kept until
                          emptied by hand

This module is the only one that knows these names. Version 1 is this layout; folders written
before run.json existed read as version 1 too. A reader refuses a folder of a newer version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio.core.checkpoint.store import CheckpointStore
from ganstudio.core.config import Config, ConfigError, load, run_name, save
from ganstudio.core.config.notify import without_secret
from ganstudio.core.disk import describe_os_error
from ganstudio.core.image import save_grid_png, scatter_png

FORMAT = "ganstudio-run"
VERSION = 1
CONFIG = "config.toml"
METRICS = "metrics.jsonl"
META = "run.json"
CONTROL = "control.jsonl"
HEARTBEAT = "heartbeat.json"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
MODEL = "model"
SHA256SUMS = "SHA256SUMS"
TRASH = ".trash"  # in the folder that holds the run folders
_SAMPLE_FILE = re.compile(r"^step-(\d+)\.png$")


class RunFolderError(Exception):
    """A run folder that cannot be made, written or read; str(e) names the path and what to do."""


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
    def model_dir(self) -> Path:
        return self.path / MODEL

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
    def create(
        cls,
        cfg: Config,
        out: str | Path | None = None,
        now: float | None = None,
        parent: dict[str, Any] | None = None,
    ) -> RunFolder:
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
                        "choose another runs folder (log.out)"
                    ) from None
                continue
            except (OSError, ValueError) as e:
                raise RunFolderError(
                    f"cannot make the run folder {path}: {describe_os_error(e)}. Choose another "
                    "runs folder (log.out) or run name (log.name)"
                ) from None
            folder = cls(path)
            try:
                folder.write_meta(
                    {
                        "created": time.time() if now is None else now,
                        "host": socket.gethostname(),
                        "name": run_name(cfg),
                        "parent": parent,
                    }
                )
            except RunFolderError:
                with contextlib.suppress(OSError):
                    path.rmdir()
                raise
            return folder
        raise RunFolderError(
            f"cannot make a new run folder under {base_dir}: 1000 folders named {base} exist already"
        )

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

    # ----- your own model's file -----------------------------------------------------------------

    def _model_copy_names(self, ref: Any) -> tuple[str, str]:
        """The names a copy of `ref`'s file (a core.models.user.ModelRef) may have: its own, or with
        its hash's start when another version already has that name."""
        p = Path(ref.path)
        return p.name, f"{p.stem}-{ref.sha256[:12]}{p.suffix}"

    def model_copy(self, ref: Any) -> Path | None:
        """The folder's copy of `ref`'s file with `ref`'s hash, if it has one."""
        for name in self._model_copy_names(ref):
            copy = self.model_dir / name
            with contextlib.suppress(OSError):
                if copy.is_file() and hashlib.sha256(copy.read_bytes()).hexdigest() == ref.sha256:
                    return copy
        return None

    def keep_model_file(self, ref: Any) -> Path:
        """Copy `ref`'s file into model/ (unless a copy with its hash is there), list its hash in
        model/SHA256SUMS and record in run.json which file the run imported. The copy is of the
        file's bytes as they were hashed; a file changed since is refused (RunFolderError)."""
        copy = self.model_copy(ref)
        if copy is None:
            try:
                data = Path(ref.path).read_bytes()
            except OSError as e:
                raise RunFolderError(
                    f"cannot copy {ref.path} into {self.model_dir}: {describe_os_error(e)}"
                ) from None
            if hashlib.sha256(data).hexdigest() != ref.sha256:
                raise RunFolderError(f"{ref.path} changed while the run started; start it again")
            own, hashed = self._model_copy_names(ref)
            copy = self.model_dir / (hashed if (self.model_dir / own).exists() else own)
            try:
                self.model_dir.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(data)
                with open(self.model_dir / SHA256SUMS, "a", encoding="utf-8") as f:
                    f.write(f"{ref.sha256}  {copy.name}\n")
            except OSError as e:
                raise RunFolderError(f"cannot write {copy}: {describe_os_error(e)}") from None
        self.write_meta({"model": {**ref.as_dict(), "copy": self.relative(copy)}})
        return copy

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
            return (
                f"{self.path} was written by a newer GAN Studio (run folder format {version!r}; "
                f"this one reads {VERSION}): update GAN Studio to open it"
            )
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
            save(without_secret(cfg), self.config_path)  # a webhook URL's token stays out
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

    def sample_timeline(
        self, up_to_step: int | None = None, limit: int | None = None
    ) -> list[tuple[int, Path]]:
        """(step, png) of the folder's sample grids, by step; at most `limit` of them, evenly thinned
        (`thin`), when a limit is given."""
        out = []
        if self.samples_dir.is_dir():
            with contextlib.suppress(OSError):
                for p in self.samples_dir.iterdir():
                    m = _SAMPLE_FILE.match(p.name)
                    if m and (up_to_step is None or int(m.group(1)) <= up_to_step):
                        out.append((int(m.group(1)), p))
        out.sort()
        return out if limit is None else [out[i] for i in thin(len(out), limit)]

    def write_samples(
        self,
        step: int,
        grid: np.ndarray | None,
        points: np.ndarray | None,
        reference: np.ndarray | None = None,
        lab: dict[str, Any] | None = None,
    ) -> Path:
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


def thin(n: int, limit: int) -> list[int]:
    """The indices of at most `limit` of n items, evenly spread, the first and the last always in: a
    long sample timeline, read when a folder is opened (the log's reader and `sample_timeline`)."""
    if n <= limit:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, limit).round().astype(int).tolist()))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError) as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise RunFolderError(f"cannot write {path}: {describe_os_error(e)}") from None
