"""Writes of a run that failed, told once per kind with a count; and when to stop trying.

A full disk fails every write that follows: each sample grid, each checkpoint. Told each time, a run
on a 5 MiB disk printed 1,451 warnings while it trained on. Here the first failure of a kind says
what could not be written and where; the ones after it are only counted, and the count is told
when that kind is written again or the run ends ("12 more sample writes failed (steps 300 to
1,500)").

When no checkpoint could be written for HALT_AFTER checkpoint intervals in a row, everything trained
from then on would be lost with the process: the run driver stops (the CLI) or pauses (the app)
the run with `halt_message`, which says where the checkpoints go, how much space is free there and
what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganstudio.core.disk import free_space, size_text
from ganstudio.core.run.events import Alert

#: Checkpoint intervals in a row whose checkpoint could not be written before the run halts.
HALT_AFTER = 3

# What one write of each kind is called in a count.
_NOUNS = {"checkpoint": "checkpoint", "samples": "sample", "config": "config.toml"}


@dataclass
class _Streak:
    more: int = 0  # failures since the one that was told, not told one by one
    first: int = 0  # the steps of the first and the last of them
    last: int = 0


class WriteFailures:
    """The failed writes of one run, by kind ("checkpoint", "samples", "config")."""

    def __init__(self) -> None:
        self._streaks: dict[str, _Streak] = {}

    def failed(self, kind: str, step: int) -> bool:
        """Record a failed write of `kind` at `step`: True when it is the first since that kind was
        last written (tell it, what and where), False when it is only counted."""
        streak = self._streaks.get(kind)
        if streak is None:
            self._streaks[kind] = _Streak()
            return True
        if not streak.more:
            streak.first = step
        streak.more += 1
        streak.last = step
        return False

    def succeeded(self, kind: str, step: int) -> Alert | None:
        """A write of `kind` worked again at `step`: how many failed untold since the first, or None."""
        streak = self._streaks.pop(kind, None)
        if streak is None or not streak.more:
            return None
        return Alert(
            step=step, kind="disk", message=f"{_count(kind, streak)}; writing works again from step {step:,}"
        )

    def summary(self, step: int) -> list[Alert]:
        """At the end of a run (or of this session of it): the counts not told yet, one per kind."""
        out = [
            Alert(step=step, kind="disk", message=f"{_count(kind, streak)}; they were not written")
            for kind, streak in self._streaks.items()
            if streak.more
        ]
        self._streaks.clear()
        return out


def _count(kind: str, streak: _Streak) -> str:
    n = streak.more
    noun = _NOUNS.get(kind, kind)
    first, last = streak.first, streak.last
    steps = f"step {last:,}" if first == last else f"steps {first:,} to {last:,}"
    return f"{n:,} more {noun} write{'s' if n != 1 else ''} failed after the first ({steps})"


def halt_message(
    checkpoints_dir: Path, steps: list[int], pause: bool, latest: Path | None, run_dir: Path | None = None
) -> str:
    """Why a run halts when its checkpoints could not be written at `steps` (the intervals in a
    row): where they go, the space free there, and what to do; `pause`: the app (it pauses and
    can be resumed), else the CLI (it stops)."""
    free = free_space(checkpoints_dir)
    at = ", ".join(f"{s:,}" for s in steps)
    said = (
        f"no checkpoint could be written for {len(steps)} checkpoint intervals in a row (steps {at}) "
        f"in {checkpoints_dir}{f' ({free} there)' if free else ''}. Everything trained from here on "
        "would be lost, so "
    )
    if latest is not None:
        try:
            size = f" (a checkpoint of this run takes {size_text(latest.stat().st_size)})"
        except OSError:
            size = ""
        kept = f"The last checkpoint written, {latest}, is kept{size}"
    else:
        kept = "No checkpoint of this run was written"
    if pause:
        return (
            f"{said}training is paused. Free some space on that disk, then press Resume (the next "
            f"checkpoint is written at the next interval). {kept}."
        )
    if latest is not None and run_dir is not None:
        then = (
            f"then continue where it stopped: ganstudio train --run-dir {run_dir} --resume auto; or "
            f"continue on another disk: ganstudio train --resume {latest} --out DIR"
        )
    else:
        then = "then start it again, or choose a folder on another disk with --out DIR"
    return f"{said}training stopped. {kept}. Free some space on that disk, {then}."
