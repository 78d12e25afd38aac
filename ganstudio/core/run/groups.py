"""Seed groups and baselines, Qt-free: which listed runs are replicates of one config (the same
config but for train.seed, or for keys the user picks), a group's mean curve and band, and a
run's curves as deltas against a baseline run.

Which runs group together: their configs (config.toml, as listed) are equal once the ignored keys
(train.seed by default) and where a run is written and what it is called (log.out, log.name) are
left out. A run without a readable config, a run of your own loop (its config is not what it
trains), a fork (it continues another run's weights: not a replicate) and an imported run (no
config) never group; a group has at least two runs, and they differ in an ignored key (copies of
one run, seed and all, are not replicates).

Statistics at common steps: a group's curves are computed at the steps that every one of its runs
logged (no interpolation: runs of one config log at the same steps, so nothing is invented; while
one run is behind, the mean stops where it is). A value is averaged only where every run has it
(a metric NaN in one run is NaN in the mean). The band is the runs' min/max or the mean +/- the
sample standard deviation (ddof=1). Deltas against a baseline likewise use only the steps both
the run and the baseline logged; steps the baseline lacks are skipped, never interpolated.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganstudio.core.config.keys import KEYS, unknown_key
from ganstudio.core.run import listing
from ganstudio.core.run.events import StatsBlock
from ganstudio.core.run.history import History
from ganstudio.core.run.listing import OWN_LOOP, RunInfo

#: What `ganstudio runs --group` and the Runs dock leave out by default: runs apart only in their
#: seed are replicates.
DEFAULT_IGNORED = ("train.seed",)
#: Never a reason to keep runs apart: where a run is written and what it is called.
NEVER_APART = ("log.out", "log.name")
MINMAX, STD = "minmax", "std"  # the band: the runs' min and max, or mean +/- std
BANDS = (MINMAX, STD)
STD_SUFFIX = "_std"  # a metric's own uncertainty ("<key>_std"): kept as it is in a delta


class GroupKeysError(ValueError):
    """Keys to group by that are not config keys; str(e) says which and what to do."""


def parse_keys(text: str | Iterable[str]) -> tuple[str, ...]:
    """Config keys to ignore when grouping, from "KEY[,KEY]" (or a list); checked against the key
    table, with the likely key named for a near miss."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    keys = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if not keys:
        raise GroupKeysError("no keys given: name one or more config keys, e.g. train.seed,optim.lr_g")
    bad = [k for k in keys if k not in KEYS]
    if bad:
        raise GroupKeysError("; ".join(unknown_key(k) for k in bad))
    return keys


def flat_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """{"section.key": value} from a config as nested plain values (RunInfo.config)."""
    out: dict[str, Any] = {}
    for section, values in (config or {}).items():
        if isinstance(values, dict):
            for name, value in values.items():
                out[f"{section}.{name}"] = value
    return out


#: What group_runs asks of each run, by (path, ignored keys), with the RunInfo it was for: its group
#: key and its ignored keys' values. The Runs dock asks again for every run on each scan (on its scan
#: thread), and a scanner hands back the same RunInfo for an unchanged run.
_KEYS: dict[tuple[Any, tuple[str, ...]], tuple[RunInfo, str | None, str]] = {}


def group_key(info: RunInfo, ignored: Sequence[str] = DEFAULT_IGNORED) -> str | None:
    """The id of the group `info` belongs in (equal for replicates), or None for a run that never
    groups (see the module's docstring)."""
    return _membership(info, ignored)[0]


def _membership(info: RunInfo, ignored: Sequence[str]) -> tuple[str | None, str]:
    """(group_key, the ignored keys' values as text), memoised per RunInfo."""
    memo = (info.path, tuple(ignored))
    known = _KEYS.get(memo)
    if known is not None and known[0] is info:
        return known[1], known[2]
    key = _group_key(info, ignored)
    values = _ignored_values(info, ignored) if key is not None else ""
    _KEYS[memo] = (info, key, values)
    return key, values


def _group_key(info: RunInfo, ignored: Sequence[str]) -> str | None:
    if info.config is None or not info.is_run or info.arch == OWN_LOOP or info.parent is not None:
        return None
    skip = set(ignored) | set(NEVER_APART)
    kept = {k: v for k, v in flat_config(info.config).items() if k not in skip}
    text = json.dumps(kept, sort_keys=True, default=str)
    return "group:" + hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RunGroup:
    """Replicates of one config: `key` (stable while the same runs share the config), the runs
    in start order, and the keys left out."""

    key: str
    runs: tuple[RunInfo, ...]
    ignored: tuple[str, ...] = DEFAULT_IGNORED

    @property
    def name(self) -> str:
        names = {r.name for r in self.runs}
        first = self.runs[0].name
        return first if len(names) == 1 else f"{first} …"

    @property
    def paths(self) -> list:
        return [r.path for r in self.runs]

    def varies(self) -> str:
        """What tells its runs apart: 'train.seed 1, 2, 3' for each ignored key whose values differ."""
        parts = []
        for key in self.ignored:
            values = [flat_config(r.config).get(key) for r in self.runs]
            if len(set(map(str, values))) > 1:
                parts.append(f"{key} {', '.join(str(v) for v in values)}")
        return "; ".join(parts)

    def metric(self) -> tuple[str, list[float]] | None:
        """The runs' last main metric, when every run has the same one: (name, values)."""
        metrics = [r.metric for r in self.runs]
        if any(m is None for m in metrics) or len({m[0] for m in metrics}) != 1:
            return None
        return metrics[0][0], [m[1] for m in metrics]

    def metric_text(self) -> str:
        """'fd 1.23 ± 0.04 (min 1.19, max 1.27)' (mean ± sample std), or ""."""
        m = self.metric()
        if m is None:
            return ""
        name, values = m
        mean, std = float(np.mean(values)), _sample_std(values)
        return f"{name} {mean:.3g} ± {std:.2g} (min {min(values):.3g}, max {max(values):.3g})"


def _sample_std(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def group_runs(
    runs: Iterable[RunInfo], ignored: Sequence[str] = DEFAULT_IGNORED
) -> tuple[list[RunGroup], list[RunInfo]]:
    """(the groups of two or more replicates, in the order of their first run; the other runs)."""
    runs = list(runs)
    by_key: dict[str, list[RunInfo]] = {}
    for r in runs:
        key = group_key(r, ignored)
        if key is not None:
            by_key.setdefault(key, []).append(r)
    start = lambda r: (r.created or 0.0, r.path.name)  # noqa: E731
    groups = [
        RunGroup(key, tuple(sorted(members, key=start)), tuple(ignored))
        for key, members in by_key.items()
        if len({_membership(r, ignored)[1] for r in members}) > 1
    ]
    grouped = {r.path for g in groups for r in g.runs}
    groups.sort(key=lambda g: start(g.runs[0]))
    return groups, [r for r in runs if r.path not in grouped]


def _ignored_values(info: RunInfo, ignored: Sequence[str]) -> str:
    flat = flat_config(info.config)
    return json.dumps([flat.get(k) for k in ignored], default=str)


def grouped_tree(order: list[tuple[int, RunInfo]], groups: list[RunGroup]) -> list[tuple[int, Any]]:
    """listing.tree's (depth, run) order with each group's runs gathered under a group row: the
    group where its first run was, its runs one level down (each with its forks below it)."""
    group_of = {r.path: g for g in groups for r in g.runs}
    subtrees: list[list[tuple[int, RunInfo]]] = []  # each root with its descendants
    for depth, info in order:
        if depth == 0 or not subtrees:
            subtrees.append([])
        subtrees[-1].append((depth, info))
    by_root = {sub[0][1].path: sub for sub in subtrees}
    out: list[tuple[int, Any]] = []
    emitted: set[str] = set()
    for sub in subtrees:
        group = group_of.get(sub[0][1].path)
        if group is None:
            out += sub
        elif group.key not in emitted:
            emitted.add(group.key)
            out.append((0, group))
            for r in group.runs:
                out += [(d + 1, i) for d, i in by_root.get(r.path, [(0, r)])]
    return out


def layout(
    runs: Iterable[RunInfo], ignored: Sequence[str] | None = DEFAULT_IGNORED
) -> tuple[list[tuple[int, Any]], list[RunGroup]]:
    """The rows of the runs, as the Runs dock and `ganstudio runs --group` order them: listing.tree's
    (depth, run) with each group of replicates under its group row (grouped_tree), and the groups;
    `ignored` None: no groups. Plain data in and out: the Runs dock lays out each scan on its scan
    thread, not the GUI thread."""
    runs = list(runs)
    order = listing.tree(runs)
    found = group_runs(runs, ignored)[0] if ignored is not None else []
    return (grouped_tree(order, found) if found else order), found


# ----- curves ----------------------------------------------------------------------------------


def common_steps(histories: Sequence[History]) -> np.ndarray:
    """The steps every history logged, in order."""
    if not histories:
        return np.empty(0, dtype=np.int64)
    steps = _sorted_unique(histories[0].steps())
    for h in histories[1:]:
        other = h.steps()
        if not np.array_equal(steps, other):  # replicates logged at the same steps: the usual case
            steps = np.intersect1d(steps, _sorted_unique(other), assume_unique=True)
    return steps.copy()


def _sorted_unique(steps: np.ndarray) -> np.ndarray:
    """`steps` in order without repeats: as a history logs them (checked), else sorted."""
    return steps if len(steps) < 2 or bool((steps[1:] > steps[:-1]).all()) else np.unique(steps)


def _index(h: History, steps: np.ndarray) -> np.ndarray:
    """Where each of `steps` (all logged in `h`) is in h."""
    return np.searchsorted(h.steps(), steps)


def _history(
    steps: np.ndarray, walls: np.ndarray, epochs: np.ndarray, values: dict[str, np.ndarray]
) -> History:
    h = History(capacity=max(16, 1 << max(len(steps) - 1, 1).bit_length()))
    h.extend(StatsBlock(steps=steps.astype(np.int64), epochs=epochs, walls=walls, values=values))
    return h


@dataclass
class GroupBand:
    """A group's curves: `mean` (a History, drawn as a run's), and the band's `lo` and `hi` (at
    the same steps, for the same keys), over `runs` runs."""

    mean: History
    lo: History
    hi: History
    runs: int


def group_band(
    histories: Sequence[History], band: str = MINMAX, only: Collection[str] | None = None
) -> GroupBand:
    """Mean and band over `histories` at the steps they all logged, for the keys they all have
    (a key's "<key>_std" included: averaged, as is the metric it belongs to), or only those of
    them in `only` (a plot's series: a history has ~50 keys, a plot draws a few)."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, not {band!r}")
    steps = common_steps(histories)
    idx = [_index(h, steps) for h in histories]
    keys = [k for k in histories[0].keys if all(h.has(k) for h in histories[1:])] if histories else []
    if only is not None:
        keys = [k for k in keys if k in only]
    mean, lo, hi = {}, {}, {}
    for key in keys:
        stack = np.stack([h.series(key)[i] for h, i in zip(histories, idx, strict=True)])
        m = stack.mean(axis=0)
        mean[key] = m
        if band == MINMAX:
            lo[key], hi[key] = stack.min(axis=0), stack.max(axis=0)
        else:
            sd = stack.std(axis=0, ddof=1) if len(histories) > 1 else np.zeros(len(steps))
            lo[key], hi[key] = m - sd, m + sd
    walls = (
        np.mean([h.walls()[i] for h, i in zip(histories, idx, strict=True)], axis=0)
        if histories
        else np.empty(0)
    )
    epochs = histories[0].epochs()[idx[0]] if histories else np.empty(0)
    return GroupBand(
        _history(steps, walls, epochs, mean),
        _history(steps, walls, epochs, lo),
        _history(steps, walls, epochs, hi),
        len(histories),
    )


def delta_history(run: History, baseline: History) -> History:
    """`run` as deltas against `baseline`: value - the baseline's value at the same step, at the
    steps both logged (others skipped), for the keys both have; a key's "<key>_std" (a metric's
    own uncertainty) is kept as it is. Wall times and epochs are the run's."""
    steps = np.intersect1d(run.steps(), baseline.steps())
    i, j = _index(run, steps), _index(baseline, steps)
    values = {}
    for key in run.keys:
        if key.endswith(STD_SUFFIX) and run.has(key[: -len(STD_SUFFIX)]):
            values[key] = run.series(key)[i]
        elif baseline.has(key):
            values[key] = run.series(key)[i] - baseline.series(key)[j]
    return _history(steps, run.walls()[i], run.epochs()[i], values)


def metric_delta(info: RunInfo, baseline: RunInfo | None) -> float | None:
    """The run's latest main metric minus the baseline's, when both have the same one."""
    if baseline is None or info.metric is None or baseline.metric is None:
        return None
    if info.metric[0] != baseline.metric[0]:
        return None
    d = info.metric[1] - baseline.metric[1]
    return d if math.isfinite(d) else None


def metric_delta_text(info: RunInfo, baseline: RunInfo | None) -> str:
    """'baseline' for the baseline itself, '+0.12' / '-0.3' for another run, "" when unknown."""
    if baseline is None:
        return ""
    if info.path == baseline.path:
        return "baseline"
    d = metric_delta(info, baseline)
    return "" if d is None else f"{d:+.3g}"


# ----- the terminal's table --------------------------------------------------------------------


def group_row(g: RunGroup) -> dict[str, str]:
    """A group's row in listing.COLUMNS: how many runs, their common columns, what varies (in the
    note column) and the metric's mean ± std."""
    texts = listing.row(g.runs[0])
    steps = {r.steps_text() for r in g.runs}
    step_range = f"{min(r.step for r in g.runs):,}-{max(r.step for r in g.runs):,}"
    return {
        **texts,
        "folder": f"{len(g.runs)} runs",
        "name": g.name,
        "steps": steps.pop() if len(steps) == 1 else step_range,
        "status": ", ".join(sorted({r.status_text() for r in g.runs})),
        "duration": listing.fmt_duration(max(r.duration for r in g.runs)),
        "metric": g.metric_text(),
        "note": g.varies(),
    }


def table(runs: list[RunInfo], ignored: Sequence[str] = DEFAULT_IGNORED) -> str:
    """listing.table with each group of replicates as one row (a member's forks listed under it)."""
    rows = []
    depth_shift = 0
    for depth, item in layout(runs, ignored)[0]:
        if isinstance(item, RunGroup):
            rows.append((group_row(item), ""))
            continue
        if depth == 0:
            depth_shift = 0
        elif depth == 1 and item.parent is None:  # a group's run: collapsed into its row
            depth_shift = 1
            continue
        rows.append((listing.row(item, depth - depth_shift), item.problem))
    return listing.text_table(rows)
