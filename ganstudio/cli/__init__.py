"""The `ganstudio` command: the app with no subcommand, and headless `train` / `sample` / `fid` /
`runs` / `export` / `import` / `presets` / `config`.

This package parses arguments and prints; the work happens in ganstudio.core (and ganstudio.qt for
the app, imported only when the app is asked for).

parser.py    the arguments, as argparse reads them
common.py    the exit codes, the error line, the config a run starts from
train.py     `train`: a run in its folder, alone or in a torchrun job; Ctrl+C and SIGTERM
progress.py  what `train` prints as the run goes
sample.py    `sample`: samples from a checkpoint
fid.py       `fid`: Inception FID of folders, arrays or checkpoints
runs.py      `runs` and `export`: reading run folders
imports.py   `import`: a TensorBoard log or a CSV as a run folder
presets.py   `presets` and `config`: printing configs
"""

from __future__ import annotations

import sys

from ganstudio.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    error,
)
from ganstudio.cli.fid import fid
from ganstudio.cli.imports import import_run
from ganstudio.cli.parser import parser
from ganstudio.cli.presets import list_presets, print_config
from ganstudio.cli.runs import export, runs
from ganstudio.cli.sample import sample
from ganstudio.cli.train import train
from ganstudio.core.config import ConfigError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED", "main"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    try:
        if args.command == "train":
            return train(args)
        if args.command == "sample":
            return sample(args)
        if args.command == "fid":
            return fid(args)
        if args.command == "presets":
            return list_presets()
        if args.command == "runs":
            return runs(args)
        if args.command == "export":
            return export(args)
        if args.command == "import":
            return import_run(args)
        if args.command == "config":
            return print_config(args)
    except ConfigError as e:
        error("invalid configuration:\n  " + "\n  ".join(e.problems))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    from ganstudio.qt.app import main as app_main

    return app_main(argv)
