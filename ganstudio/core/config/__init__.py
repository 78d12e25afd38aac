"""The run configuration: nested frozen dataclasses of plain values, validated in one place.

keys.py      the sections and their keys, each describing itself (`KEYS`, the README's table)
validate.py  the one validator (`validate`, `check_value`) and `with_values`
io.py        plain dicts, TOML files and `key=value` text in and out (`load`, `save`, `apply_overrides`)
live.py      which keys may change in a running, resumed or forked run, and `live_update`
presets.py   named starting configs (`ganstudio presets`)

This package's names are the config's public API: `from ganstudio.core.config import Config, load`.
"""

from ganstudio.core.config.io import (
    apply_overrides,
    from_dict,
    from_toml,
    load,
    parse_value,
    save,
    to_dict,
    to_toml,
)
from ganstudio.core.config.keys import (
    ARCHS,
    DATASETS,
    DATASETS_2D,
    DATASETS_IMAGE,
    DCGAN_SIZES,
    INT_MAX,
    INT_MIN,
    KEYS,
    LOSSES,
    NATIVE_SHAPE,
    RUN_NAME_MAX_BYTES,
    SECTIONS,
    Config,
    ConfigError,
    DataConfig,
    HealthConfig,
    KeyInfo,
    LogConfig,
    LossConfig,
    MetricsConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    fork_name,
    get,
    is_2d,
    markdown_key_table,
    resolved_image_shape,
    run_name,
    unknown_key,
)
from ganstudio.core.config.live import (
    FORK_KEYS,
    LIVE_KEYS,
    LOCKED_WHY,
    RESUMABLE_KEYS,
    live_changes,
    live_update,
)
from ganstudio.core.config.validate import batch_split_problem, check_value, validate, with_values

__all__ = [
    "ARCHS", "DATASETS", "DATASETS_2D", "DATASETS_IMAGE", "DCGAN_SIZES", "FORK_KEYS", "INT_MAX", "INT_MIN",
    "KEYS", "LIVE_KEYS", "LOCKED_WHY", "LOSSES", "NATIVE_SHAPE", "RESUMABLE_KEYS", "RUN_NAME_MAX_BYTES",
    "SECTIONS", "Config", "ConfigError", "DataConfig", "HealthConfig", "KeyInfo", "LogConfig", "LossConfig",
    "MetricsConfig", "ModelConfig", "OptimConfig", "TrainConfig", "apply_overrides", "batch_split_problem",
    "check_value", "fork_name", "from_dict", "from_toml", "get", "is_2d", "live_changes",
    "live_update", "load", "markdown_key_table", "parse_value", "resolved_image_shape", "run_name", "save",
    "to_dict", "to_toml", "unknown_key", "validate", "with_values",
]
