"""A folder of checkpoints: step-N.pt rotated to the newest `keep`, manual-N.pt never rotated
away, latest.pt another name for the newest (names.py). The one place that rotates checkpoints."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganstudio.core.checkpoint.names import LATEST, STEP_FILE, file_name


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
        return self.folder / file_name(step, manual)

    def files(self) -> list[CheckpointFile]:
        """Step and manual checkpoints, oldest first (latest.pt is another name for the newest)."""
        if not self.folder.is_dir():
            return []
        found = []
        with contextlib.suppress(OSError):
            for p in self.folder.iterdir():
                m = STEP_FILE.match(p.name)
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
        # Imported here: it imports torch, which listing a run's checkpoints (the app) never needs.
        from ganstudio.core.checkpoint.io import save_atomic

        path = save_atomic(obj, self.path_for(step, manual))
        tmp = self.folder / f".{LATEST}.link.tmp"
        try:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.link(path, tmp)  # a second name for the same bytes: no second write
            os.replace(tmp, self.latest)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            save_atomic(obj, self.latest)
        automatic = [c for c in self.files() if not c.manual]
        for old in automatic[: max(0, len(automatic) - keep)]:
            with contextlib.suppress(OSError):
                old.path.unlink()
        return path


def step_path(folder: str | Path, step: int) -> Path:
    """The automatic checkpoint of `step` in a checkpoints folder."""
    return CheckpointStore(folder).path_for(step)


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the step and manual checkpoints in `folder`, oldest first."""
    return [(c.step, c.path) for c in CheckpointStore(folder).files()]
