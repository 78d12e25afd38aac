"""A run's curves out of GAN Studio: CSV for a spreadsheet or pandas, TensorBoard event files for
TensorBoard. Both read the run folder with the same reader the app uses (ganstudio.core.run.log)."""

from __future__ import annotations

import contextlib
import csv
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ganstudio.core.disk import describe_os_error
from ganstudio.core.run.events import STAT_KEYS
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.log import LogReader, read_run

FIRST = ("step", "epoch", "wall")


def check_run(folder: RunFolder) -> None:
    """RunFolderError unless `folder` is a run folder this version reads."""
    if not folder.path.is_dir():
        raise RunFolderError(
            f"{folder.path} is not a folder; give a run folder (it holds config.toml and metrics.jsonl)"
        )
    problem = folder.version_problem()
    if problem is not None:
        raise RunFolderError(problem)
    if not folder.metrics_path.is_file():
        raise RunFolderError(
            f"{folder.path} has no metrics.jsonl: it is not a run folder, or nothing was logged yet"
        )


def export_csv(folder: RunFolder, target: str | Path) -> int:
    """One row per logged step: step, epoch, wall, then a column per series (the stats in their
    usual order, then the quality metrics); an empty cell where a step lacks a value. Returns the
    number of rows."""
    check_run(folder)
    h = read_run(folder).history
    keys = [k for k in STAT_KEYS if h.has(k)] + [k for k in h.keys if k not in STAT_KEYS]
    columns = [h.steps(), h.epochs(), h.walls(), *(h.series(k) for k in keys)]
    target = Path(target)
    # Written beside the target and renamed over it: a failed export leaves the old file (if any)
    # as it was, and no half-written one.
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with _undone_on_failure(target.parent):
            try:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow([*FIRST, *keys])
                    for i in range(len(h)):
                        w.writerow([_cell(col[i]) for col in columns])
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
    except (OSError, ValueError) as e:
        raise RunFolderError(f"cannot write {target}: {describe_os_error(e)}") from None
    return len(h)


@contextlib.contextmanager
def _undone_on_failure(folder: Path) -> Iterator[None]:
    """Make `folder` (with its parents) for an export; should the export fail, remove the folders
    this made, with what the export put in them, so that nothing is left behind. Folders that
    existed before are never removed."""
    created = next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _cell(v) -> str:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ""
    return str(v)


def export_tensorboard(folder: RunFolder, target: str | Path) -> tuple[Path, dict[str, int]]:
    """TensorBoard event files of the run in `target`/<run folder name>/ (so runs exported to one
    folder show side by side in `tensorboard --logdir target`). Returns that folder and how many
    scalars, images and texts were written."""
    from ganstudio.core.run.tensorboard import TensorBoardLog, check_available

    check_run(folder)
    check_available()  # before any folder is made: a missing package leaves nothing behind
    created = folder.meta().get("created")
    base = float(created) if isinstance(created, (int, float)) else folder.path.stat().st_mtime
    logdir = Path(target) / folder.name
    reader = LogReader(folder, timeline_limit=1 << 40)  # every sample grid, not a thinned timeline
    try:
        with _undone_on_failure(logdir), TensorBoardLog(logdir, walltime_base=base) as log:
            for ev in reader.read():
                log.handle(ev)
    except OSError as e:
        raise RunFolderError(f"cannot write {logdir}: {describe_os_error(e)}") from None
    return logdir, log.counts
