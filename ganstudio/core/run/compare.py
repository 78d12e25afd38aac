"""What makes runs differ: the config keys in which they differ, the hyperparameter changes made
during each run included, with their steps."""

from __future__ import annotations

from typing import Any

from ganstudio.core.config import KEYS, get
from ganstudio.core.run.events import HyperparamsChanged
from ganstudio.core.run.state import RunState


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def key_history(state: RunState, key: str) -> list[tuple[int, Any]]:
    """[(step, value)] of `key` over a run: its value at the start, then each change and its step
    (the config a run folder holds is its latest, so the start is the first change's old value)."""
    changes = [
        (ev.step, ev.changes[key])
        for ev in state.log
        if isinstance(ev, HyperparamsChanged) and key in ev.changes
    ]
    final = get(state.config, key) if state.config is not None else None
    if not changes:
        return [(0, final)]
    return [(0, changes[0][1][0])] + [(step, new) for step, (_old, new) in changes]


def describe_key(history: list[tuple[int, Any]]) -> str:
    """ "2e-4", or "2e-4 → 1e-3 @ 3,000 → 5e-4 @ 4,000" for a key changed during the run."""
    first, *rest = history
    return " → ".join([_show(first[1])] + [f"{_show(v)} @ {step:,}" for step, v in rest])


def config_diff(states: list[RunState], skip: tuple[str, ...] = ("log.out",)) -> list[tuple[str, list[str]]]:
    """[(key, [cell per run])] for every key whose story differs between the runs, or that changed
    during any of them; in the config's key order. A run without a config gets "?" cells."""
    out = []
    for key in KEYS:
        if key in skip:
            continue
        stories = [key_history(s, key) if s.config is not None else None for s in states]
        cells = ["?" if h is None else describe_key(h) for h in stories]
        changed = any(h is not None and len(h) > 1 for h in stories)
        if changed or len(set(cells)) > 1:
            out.append((key, cells))
    return out
