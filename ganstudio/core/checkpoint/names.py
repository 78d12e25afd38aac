"""The names of a checkpoints folder's files, and nothing else (no torch), so that the app can list
a run's checkpoints without importing torch:

    step-000001000.pt    a checkpoint of a checkpoint interval, rotated to the newest log.keep_checkpoints
    manual-000001000.pt  one someone asked for (Save Checkpoint): never rotated away
    latest.pt            another name for the newest
"""

from __future__ import annotations

import re

LATEST = "latest.pt"
STEP_FILE = re.compile(r"^(step|manual)-(\d+)\.pt$")


def file_name(step: int, manual: bool = False) -> str:
    """The name of the step (or manual) checkpoint of `step`."""
    return f"{'manual' if manual else 'step'}-{step:09d}.pt"


def step_in_name(name: str) -> int | None:
    """The step a step or manual checkpoint's file name holds (None for any other name)."""
    m = STEP_FILE.match(name)
    return int(m.group(2)) if m else None
