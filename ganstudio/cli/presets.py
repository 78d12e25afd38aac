"""The commands that print configs: `presets` (the named presets) and `config` (a config as TOML)."""

from __future__ import annotations

import argparse

from ganstudio.cli.common import EXIT_OK, base_config
from ganstudio.core.config import to_toml


def list_presets() -> int:
    from ganstudio.core.config import presets

    width = max(map(len, presets.NAMES))
    for name in presets.NAMES:
        print(f"{name:<{width}}  {presets.describe(name)}")
    return EXIT_OK


def print_config(args: argparse.Namespace) -> int:
    print(to_toml(base_config(None, args.preset)), end="")
    return EXIT_OK
