"""Runs from elsewhere: a TensorBoard log or a CSV of curves becomes a run folder that the app opens,
compares and exports like any other (`ganstudio import`, File › Import…).

TensorBoard (a log folder, or one events file), read with TensorBoard's own EventAccumulator:
scalars become the run's series at their steps, one image tag's images its sample grids. GAN
Studio's own tags (`ganstudio export --tensorboard`, `log.tensorboard`: `train/<stat>`,
`metrics/<metric>`, the `samples` images) map back to its own names, so a run exported and imported
again draws the same curves; other tags ("Loss/D", "train/g_loss") keep their names and are drawn
in the plots' Logged tab. A CSV needs a `step` column; `epoch` and `wall` columns are what GAN
Studio's own export writes, every other numeric column is a series, blank cells are skipped.

An imported run has no config and no checkpoints: its run.json says where it came from
({"imported": {"from", "kind"}}), and it is finished. The folder is written under a hidden name in
the target folder and renamed when whole, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio.core.disk import describe_os_error
from ganstudio.core.metrics.tabs import TABS, rest_keys
from ganstudio.core.run.events import STAT_KEYS, Finished, Metrics, RunStarted, Samples, Stats
from ganstudio.core.run.folder import RunFolder, RunFolderError

KINDS = ("tensorboard", "csv")
EVENTS_MARK = "tfevents"  # TensorBoard's event files are named events.out.tfevents.<time>.<host>...
INSTALL = f"{Path(sys.executable)} -m pip install tensorboard"
#: Keys of a stats line that are not series: a logged scalar of one of these names gets a suffix.
_RESERVED = ("event", "step", "wall")
#: GAN Studio's quality metrics (a curve with dots and a band): metrics lines, not stats lines.
_METRIC_KEYS = frozenset({"n", *(k for tab in TABS if tab.bands for k, _ in tab.series)})
_CHECKED_BYTES = 64 * 1024  # events files: records up to this long have their checksum checked
_IMAGE_HINTS = ("samples", "sample", "fake", "generated", "gen")


class ImportProblem(RunFolderError):
    """What cannot be imported, and what to do; str(e) says it for a person."""


@dataclass
class Curves:
    """What a source holds, in GAN Studio's terms: stats and metrics by step (NaN-free), the wall
    time and epoch of a step where known, and sample grids (HxWxC uint8) by step."""

    kind: str
    source: Path
    stats: dict[int, dict[str, float]] = field(default_factory=dict)
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)
    walls: dict[int, float] = field(default_factory=dict)
    epochs: dict[int, float] = field(default_factory=dict)
    images: dict[int, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was read but left out, and why

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for values in (*self.stats.values(), *self.metrics.values()):
            seen.update(dict.fromkeys(values))
        return list(seen)

    def steps(self) -> list[int]:
        return sorted({*self.stats, *self.metrics})


@dataclass(frozen=True)
class Imported:
    """An import's outcome: the new run folder and what went into it."""

    folder: RunFolder
    kind: str
    series: list[str]
    steps: int
    images: int
    notes: list[str]

    def summary(self) -> str:
        text = (
            f"{self.folder.path}: {len(self.series)} series over {self.steps} steps, "
            f"{self.images} sample grids (from {self.kind})"
        )
        return "\n".join([text, *(f"  note: {n}" for n in self.notes)])


def imported_from(meta: dict[str, Any]) -> str:
    """ "imported from PATH (TensorBoard)" for a run.json of an imported run, else ""."""
    imported = meta.get("imported")
    if not isinstance(imported, dict):
        return ""
    kind = {"tensorboard": "TensorBoard", "csv": "CSV"}.get(str(imported.get("kind")), "")
    return f"imported from {imported.get('from', '?')}" + (f" ({kind})" if kind else "")


# ----- the one entry point -------------------------------------------------------------------


def import_run(
    source: str | Path, out: str | Path, name: str | None = None, now: float | None = None
) -> Imported:
    """Read `source` (a TensorBoard log folder or events file, or a CSV) and write it as a new run
    folder under `out`. ImportProblem, naming what is wrong, for anything that cannot be used;
    nothing is left in `out` then."""
    source = Path(source).expanduser()
    if not source.exists():
        raise ImportProblem(
            f"{source} does not exist; give a TensorBoard log folder, an events file or a CSV file"
        )
    if name is not None and (
        not name.strip() or re.search(r"[/\\\x00]", name) or name.strip() in (".", "..")
    ):
        raise ImportProblem(f"{name!r} cannot name a run: give a name without slashes (--name)")
    curves = read_source(source)
    if not curves.steps():
        raise ImportProblem(f"{source} holds no values to import (no scalars with steps)")
    folder = write_run(curves, out, (name or "").strip() or default_name(source), now)
    return Imported(folder, curves.kind, curves.keys(), len(curves.steps()), len(curves.images), curves.notes)


def read_source(source: Path) -> Curves:
    if source.is_dir() or EVENTS_MARK in source.name:
        return read_tensorboard(source)
    return read_csv(source)


def default_name(source: Path) -> str:
    """A run name from the source: a CSV's stem, a log folder's name (an events file's folder)."""
    base = source.parent.name if source.is_file() and EVENTS_MARK in source.name else source.stem
    base = source.name if source.is_dir() else base
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "imported"


# ----- TensorBoard ---------------------------------------------------------------------------


def read_tensorboard(source: Path) -> Curves:
    """A TensorBoard log: `source` an events file, a folder of them, or a folder whose subfolders
    hold them (each subfolder's tags then start with its path: "train/epoch_loss")."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        raise ImportProblem(f"reading TensorBoard files needs the tensorboard package: {INSTALL}") from None
    runs = _event_runs(source)
    curves = Curves("tensorboard", source)
    scalars: dict[str, list[tuple[int, float, float]]] = {}
    images: dict[str, list[tuple[int, bytes]]] = {}
    for prefix, path in runs:
        for f in [path] if path.is_file() else sorted(path.glob(f"*{EVENTS_MARK}*")):
            _check_events_file(f, curves.notes)
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
        try:
            acc.Reload()
        except Exception as e:  # TensorBoard's reader on a file it cannot parse
            raise ImportProblem(f"{path} cannot be read as TensorBoard events: {e}") from None
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            scalars[prefix + tag] = [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
        for tag in tags.get("tensors", []):
            values = _tensor_scalars(acc, tag)
            if values is not None:
                scalars[prefix + tag] = values
        for tag in tags.get("images", []):
            images[prefix + tag] = [(e.step, e.encoded_image_string) for e in acc.Images(tag)]
    ours = _is_ours(list(scalars))
    walls = [w for points in scalars.values() for _, _, w in points if math.isfinite(w)]
    start = min(walls) if walls else 0.0
    for tag, points in scalars.items():
        kind, key = _map_tag(tag, ours)
        for step, value, wall in points:
            if not math.isfinite(value):
                continue
            if key == "epoch" and kind == "stats":
                curves.epochs[step] = value
                curves.stats.setdefault(step, {})
                continue
            (curves.metrics if kind == "metrics" else curves.stats).setdefault(step, {})[key] = float(value)
            if kind == "stats" and math.isfinite(wall):
                curves.walls[step] = max(curves.walls.get(step, 0.0), wall - start)
    _read_images(images, curves)
    return curves


def _event_runs(source: Path) -> list[tuple[str, Path]]:
    """(tag prefix, file or folder for EventAccumulator) of each run in `source`."""
    if source.is_file():
        return [("", source)]
    try:
        if any(p.is_file() for p in source.glob(f"*{EVENTS_MARK}*")):
            return [("", source)]
        folders = sorted({p.parent for p in source.rglob(f"*{EVENTS_MARK}*") if p.is_file()})
    except OSError as e:
        raise ImportProblem(f"cannot read {source}: {describe_os_error(e)}") from None
    if not folders:
        raise ImportProblem(
            f"{source} holds no TensorBoard events files (events.out.tfevents.*), nor do its "
            "subfolders; give the folder TensorBoard's --logdir was, or a CSV file"
        )
    if len(folders) == 1:
        return [("", folders[0])]
    return [(p.relative_to(source).as_posix() + "/", p) for p in folders]


def _check_events_file(path: Path, notes: list[str]) -> None:
    """ImportProblem unless `path` is a sequence of TFRecord frames (length, its CRC, data, CRC):
    TensorBoard's reader skips what it cannot read without a word. A last frame cut short (a log
    still being written) is read up to it, with a note."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImportProblem(f"cannot read {path}: {describe_os_error(e)}") from None
    if not data:
        raise ImportProblem(f"{path} is empty: it holds no TensorBoard events")
    damaged = (
        f"{path} is damaged at byte {{pos:,}} (not TensorBoard events from there on): copy it again "
        "from where it was written, or import a CSV of its curves"
    )
    pos = records = 0
    while pos < len(data):
        header = data[pos : pos + 12]
        if len(header) < 12:
            break
        (length,) = struct.unpack("<Q", header[:8])
        if struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
            raise ImportProblem(damaged.format(pos=pos))
        if pos + 12 + length + 4 > len(data):
            break
        # Small records (scalars) are checked whole; TensorBoard's CRC is pure Python (~10 MB/s),
        # so a large one (an image) is left to its decoder, which says when it is damaged.
        end = pos + 12 + length
        (crc,) = struct.unpack("<I", data[end : end + 4])
        if length <= _CHECKED_BYTES and crc != masked_crc32c(data[pos + 12 : end]):
            raise ImportProblem(damaged.format(pos=pos))
        pos += 12 + length + 4
        records += 1
    if pos < len(data):
        if records == 0:
            raise ImportProblem(f"{path} is not a TensorBoard events file (no whole event in it)")
        notes.append(f"{path.name}: its last event is cut short (still being written?); read up to it")


def _tensor_scalars(acc: Any, tag: str) -> list[tuple[int, float, float]] | None:
    """A scalar written as a tensor (TensorFlow 2's tf.summary.scalar), or None for another tensor."""
    try:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            return None
        from tensorboard.util import tensor_util

        return [
            (e.step, float(np.asarray(tensor_util.make_ndarray(e.tensor_proto)).reshape(-1)[0]), e.wall_time)
            for e in acc.Tensors(tag)
        ]
    except Exception:  # an odd tensor: not a scalar curve
        return None


def _known(key: str) -> bool:
    """A name GAN Studio logs (drawn on one of its tabs, or on purpose on none)."""
    return key in STAT_KEYS or key in _METRIC_KEYS or not rest_keys([key])


def _is_ours(tags: list[str]) -> bool:
    """Whether the log is GAN Studio's own: every tag under train/, metrics/ or system/, and a
    known one among them (then a loop's own keys, logged under train/ too, map back as well)."""
    split = [t.split("/", 1) for t in tags]
    return (
        bool(tags)
        and all(len(s) == 2 and s[0] in ("train", "metrics", "system") for s in split)
        and any(_known(s[1]) for s in split)
    )


def _map_tag(tag: str, ours: bool) -> tuple[str, str]:
    """("stats" or "metrics", series name) for a scalar tag."""
    head, _, rest = tag.partition("/")
    if rest and head == "system" and ours:  # a system reading: "system/rss_mb.rank0"
        return "stats", f"system.{rest}"
    if rest and head in ("train", "metrics") and (ours or _known(rest)):
        return ("metrics" if head == "metrics" else "stats"), rest
    return "stats", (f"{tag}_value" if tag in _RESERVED else tag)


def _read_images(images: dict[str, list[tuple[int, bytes]]], curves: Curves) -> None:
    """The sample grids: the "samples" tag (GAN Studio's), else the tag that looks most like
    generated samples, else the first; the others are noted."""
    if not images:
        return
    tags = sorted(images)
    tag = next((t for hint in _IMAGE_HINTS for t in tags if hint in t.lower().rsplit("/", 1)[-1]), tags[0])
    others = [t for t in tags if t != tag]
    if others:
        curves.notes.append(
            f"sample grids from the image tag {tag!r}; left out: {', '.join(map(repr, others))}"
        )
    from PIL import Image

    bad = 0
    for step, encoded in images[tag]:
        try:
            with Image.open(io.BytesIO(encoded)) as im:
                grid = np.asarray(im.convert("L" if im.mode in ("L", "1", "I", "I;16") else "RGB"))
        except (OSError, ValueError, SyntaxError):
            bad += 1
            continue
        curves.images[step] = grid[:, :, None] if grid.ndim == 2 else grid
    if bad:
        curves.notes.append(f"{bad} image(s) of {tag!r} could not be decoded and were left out")


# ----- CSV -----------------------------------------------------------------------------------


def read_csv(source: Path) -> Curves:
    """A CSV with a header row naming a `step` column: each other column of numbers is a series
    (`epoch` and `wall` are the step's epoch and training time, as GAN Studio's export writes)."""
    try:
        with open(source, newline="", encoding="utf-8-sig") as f:
            rows = [(i, r) for i, r in enumerate(csv.reader(f), 1) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        why = describe_os_error(e) if isinstance(e, OSError) else f"not a text CSV file ({e})"
        raise ImportProblem(f"cannot read {source}: {why}") from None
    if not rows:
        raise ImportProblem(f"{source} is empty; give a CSV with a header row and a step column")
    header = [h.strip() for h in rows[0][1]]
    lower = [h.lower() for h in header]
    if "step" not in lower:
        raise ImportProblem(
            f"{source} has no 'step' column (its header is {', '.join(header[:6])}"
            f"{', …' if len(header) > 6 else ''}); name the column of training steps 'step'"
        )
    step_col = lower.index("step")
    curves = Curves("csv", source)
    columns = _numeric_columns(source, header, step_col, rows[1:], curves.notes)
    wall_times = "wall time" in lower  # TensorBoard's own CSV download: absolute times
    for line, row in rows[1:]:
        step = _step(source, line, row[step_col] if step_col < len(row) else "")
        for c, name in columns.items():
            cell = row[c].strip() if c < len(row) else ""
            if not cell:
                continue
            value = float(cell)
            if name.lower() in ("wall", "wall time"):
                curves.walls[step] = value
            elif name.lower() == "epoch":
                curves.epochs[step] = value
            elif math.isfinite(value):
                key = f"{name}_value" if name in _RESERVED else name
                target = curves.metrics if key in _METRIC_KEYS or _is_std(key) else curves.stats
                target.setdefault(step, {})[key] = value
        if step in curves.walls or step in curves.epochs:
            curves.stats.setdefault(step, {})
    if wall_times and curves.walls:
        start = min(curves.walls.values())
        curves.walls = {s: w - start for s, w in curves.walls.items()}
    return curves


def _is_std(key: str) -> bool:
    return key.endswith("_std") and key[: -len("_std")] in _METRIC_KEYS


def _numeric_columns(
    source: Path, header: list[str], step_col: int, rows: list, notes: list[str]
) -> dict[int, str]:
    """{column: name} of the columns whose non-blank cells are all numbers; the others are noted."""
    out, text = {}, []
    for c, name in enumerate(header):
        if c == step_col or not name:
            continue
        try:
            for _, row in rows:
                if c < len(row) and row[c].strip():
                    float(row[c])
        except ValueError:
            text.append(name)
            continue
        out[c] = name
    if text:
        notes.append(f"left out the columns that are not numbers: {', '.join(text)}")
    if not out:
        raise ImportProblem(f"{source} has no column of numbers besides 'step': nothing to draw")
    return out


def _step(source: Path, line: int, cell: str) -> int:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value):
        shown = repr(cell.strip()) if cell.strip() else "nothing"
        raise ImportProblem(
            f"{source}, line {line}: the step is {shown}, not a whole number; every row needs its "
            "training step"
        )
    return int(value)


# ----- the run folder ------------------------------------------------------------------------


def write_run(curves: Curves, out: str | Path, name: str, now: float | None = None) -> RunFolder:
    """`curves` as a new run folder `<out>/<time>-<name>`, written under a hidden name and renamed
    when whole; a failure leaves no folder (ImportProblem says why)."""
    out = Path(out).expanduser()
    now = time.time() if now is None else now
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".importing-{name}-", dir=out))
    except (OSError, ValueError) as e:
        raise ImportProblem(
            f"cannot write in {out}: {describe_os_error(e)}; choose another folder (--out)"
        ) from None
    try:
        folder = RunFolder(tmp)
        meta = {"created": now, "host": socket.gethostname(), "name": name, "parent": None}
        meta["imported"] = {"from": str(curves.source.absolute()), "kind": curves.kind}
        meta["note"] = imported_from(meta)  # what the runs listing and the Runs dock show (editable)
        folder.write_meta(meta)
        _write_log(folder, curves)
        return RunFolder(
            _rename_unique(tmp, out / f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{name}")
        )
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, RunFolderError) and not isinstance(e, ImportProblem):
            raise ImportProblem(str(e)) from None
        if isinstance(e, (OSError, ValueError)):
            raise ImportProblem(f"cannot write the run in {out}: {describe_os_error(e)}") from None
        raise


def _write_log(folder: RunFolder, curves: Curves) -> None:
    steps = curves.steps()
    first, last = min(0, steps[0]), steps[-1]
    events: list[Any] = [RunStarted(None, {}, "", first, last, 0)]
    for step in sorted(curves.stats):
        wall, epoch = curves.walls.get(step, 0.0), curves.epochs.get(step, 0.0)
        events.append(Stats(step, epoch, wall, curves.stats[step]))
    events += [Metrics(step, curves.metrics[step]) for step in sorted(curves.metrics)]
    lines = [json.dumps(ev.record(), ensure_ascii=False) for ev in events]
    for step in sorted(curves.images):
        png = folder.write_samples(step, curves.images[step], None)
        lines.append(json.dumps({**Samples(step).record(), "file": folder.relative(png)}))
    lines.append(json.dumps(Finished(last, "completed").record()))
    with open(folder.metrics_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def _rename_unique(tmp: Path, base: Path) -> Path:
    for i in range(1000):
        target = base if i == 0 else base.with_name(f"{base.name}-{i}")
        if target.exists():
            continue
        with contextlib.suppress(FileExistsError):
            os.rename(tmp, target)
            return target
    raise ImportProblem(f"cannot name the run in {base.parent}: 1000 folders named {base.name} exist already")
