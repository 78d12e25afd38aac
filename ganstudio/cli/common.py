"""What every command shares: the exit codes, the error line, the config a run starts from."""

from __future__ import annotations

import sys

from ganstudio.core.config import Config

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

# The train command's shorthands: a message that names one of these keys names the flag too, as the
# window names its field ("runs folder (log.out)" -> "runs folder (--out, log.out)").
SHORTHANDS = {"log.out": "--out", "train.steps": "--steps"}


def error(msg: str) -> None:
    for key, flag in SHORTHANDS.items():
        msg = msg.replace(f"({key})", f"({flag}, {key})")
    print(f"ganstudio: error: {msg}", file=sys.stderr)


def base_config(config_file: str | None, preset: str | None) -> Config:
    from ganstudio.core.run import spec

    return spec.base_config(config_file, preset)
