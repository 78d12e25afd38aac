"""The commands that read run folders: `runs` (the table of a folder of runs) and `export` (a run's
curves as CSV or TensorBoard event files)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ganstudio.cli.common import EXIT_BAD_INPUT, EXIT_OK, error
from ganstudio.core.config import Config


def runs(args: argparse.Namespace) -> int:
    from ganstudio.core.run import groups
    from ganstudio.core.run.listing import RunScanner, table

    ignored = None
    if args.group or args.group_by:
        try:
            ignored = groups.parse_keys(args.group_by) if args.group_by else groups.DEFAULT_IGNORED
        except groups.GroupKeysError as e:
            error(f"--group-by: {e}")
            return EXIT_BAD_INPUT
    dirs = args.dirs or [Config().log.out]
    missing = [d for d in dirs if not Path(d).expanduser().is_dir()]
    if missing:
        error(
            f"{', '.join(missing)}: no such folder; give the folder that holds the run folders "
            "(log.out, default 'runs')"
        )
        return EXIT_BAD_INPUT
    runs = RunScanner().scan(dirs)
    if args.json:
        print(json.dumps(_json(runs, ignored), indent=2, allow_nan=False, default=str))
        return EXIT_OK
    if not runs:
        print(f"no runs in {', '.join(dirs)}")
        return EXIT_OK
    print(table(runs) if ignored is None else groups.table(runs, ignored))
    return EXIT_OK


def _json(runs: list, ignored: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """Each run as a plain record; with `ignored`, each group of replicates as one record holding
    its runs' records (listed in start order, forks after their parents)."""
    from ganstudio.core.run import groups
    from ganstudio.core.run.listing import tree

    ordered = [r for _, r in tree(runs)]
    if ignored is None:
        return [_record(r) for r in ordered]
    found, _ = groups.group_runs(ordered, ignored)
    out: list[dict[str, Any]] = []
    for depth, item in groups.grouped_tree(tree(runs), found):
        if isinstance(item, groups.RunGroup):
            metric = item.metric()
            out.append(
                {
                    "group": item.key,
                    "name": item.name,
                    "n": len(item.runs),
                    "ignored": list(item.ignored),
                    "varies": item.varies(),
                    "metric": None if metric is None else _spread(*metric),
                    "runs": [_record(r) for r in item.runs],
                }
            )
        elif not (depth == 1 and item.parent is None):  # not a group's run (listed in its group)
            out.append(_record(item))
    return out


def _spread(name: str, values: list[float]) -> dict[str, Any]:
    import statistics

    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "name": name,
        "mean": statistics.fmean(values),
        "std": std,
        "min": min(values),
        "max": max(values),
    }


def _record(r) -> dict[str, Any]:
    """A run as `runs --json` prints it (no NaN: JSON has none, so a non-finite value is null)."""
    finite = lambda v: v if isinstance(v, float) and math.isfinite(v) else None  # noqa: E731
    return {
        "path": str(r.path),
        "folder": r.folder,
        "name": r.name,
        "status": r.status,
        "problem": r.problem,
        "steps": r.step,
        "total": r.total,
        "created": r.created,
        "duration": r.duration,
        "note": r.note,
        "parent": r.parent_path and str(r.parent_path),
        "config": r.config,
        "metric": None if r.metric is None else {"name": r.metric[0], "value": finite(r.metric[1])},
        "metrics": None if r.metrics is None else {k: finite(v) for k, v in r.metrics.items()},
    }


def export(args: argparse.Namespace) -> int:
    from ganstudio.core.run.folder import RunFolder, RunFolderError

    if not (args.csv or args.tensorboard):
        error("say what to write: --csv FILE and/or --tensorboard DIR")
        return EXIT_BAD_INPUT
    folder = RunFolder(Path(args.run).expanduser())
    try:
        if args.csv:
            from ganstudio.core.run.export import export_csv

            rows = export_csv(folder, args.csv)
            print(f"{args.csv}: {rows} rows")
        if args.tensorboard:
            from ganstudio.core.run.export import export_tensorboard
            from ganstudio.core.run.tensorboard import TensorBoardMissing

            try:
                logdir, counts = export_tensorboard(folder, args.tensorboard)
            except TensorBoardMissing as e:
                raise RunFolderError(str(e)) from None
            print(
                f"{logdir}: {counts['scalars']} scalars, {counts['images']} images, "
                f"{counts['texts']} texts (tensorboard --logdir {args.tensorboard})"
            )
    except RunFolderError as e:
        error(str(e))
        return EXIT_BAD_INPUT
    return EXIT_OK
