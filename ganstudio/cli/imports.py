"""`ganstudio import PATH --out DIR [--name NAME]`: a TensorBoard log or a CSV of curves as a run
folder (ganstudio.core.run.importer), which the app then opens, compares and exports like any run."""

from __future__ import annotations

import argparse

from ganstudio.cli.common import EXIT_BAD_INPUT, EXIT_OK, error


def import_run(args: argparse.Namespace) -> int:
    from ganstudio.core.run.importer import ImportProblem
    from ganstudio.core.run.importer import import_run as run_import

    try:
        done = run_import(args.path, args.out, args.name)
    except ImportProblem as e:
        error(str(e))
        return EXIT_BAD_INPUT
    print(done.summary())
    return EXIT_OK
