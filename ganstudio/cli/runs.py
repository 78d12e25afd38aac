"""The commands that read run folders: `runs` (the table of a folder of runs) and `export` (a run's
curves as CSV or TensorBoard event files)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganstudio.cli.common import EXIT_BAD_INPUT, EXIT_OK, error
from ganstudio.core.config import Config


def runs(args: argparse.Namespace) -> int:
    from ganstudio.core.run.listing import RunScanner, table

    dirs = args.dirs or [Config().log.out]
    missing = [d for d in dirs if not Path(d).expanduser().is_dir()]
    if missing:
        error(
            f"{', '.join(missing)}: no such folder; give the folder that holds the run folders "
            "(log.out, default 'runs')"
        )
        return EXIT_BAD_INPUT
    runs = RunScanner().scan(dirs)
    if not runs:
        print(f"no runs in {', '.join(dirs)}")
        return EXIT_OK
    print(table(runs))
    return EXIT_OK


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
