"""One run, resolved before it trains: its config, the checkpoint it continues (resume or fork) and
where it is written. The CLI, the app and every rank of a torchrun job build their run from one
(`RunDriver(spec)`), so new / resume / auto / fork and the output folder are decided in one place.

    RunSpec.resolve(config, preset=..., overrides=[...], resume=..., fork=..., run_dir=..., out=...)

is `ganstudio train`'s resolution; `RunSpec(cfg)` is a new run, `RunSpec.beside(checkpoint, cfg)`
a run that continues a checkpoint in a new folder beside its run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganstudio.core.config import Config, ConfigError, apply_overrides, fork_name, load, with_values
from ganstudio.core.run.folder import RunFolder, RunFolderError

AUTO = "auto"  # resume: the run folder's latest checkpoint, if it has one


@dataclass(frozen=True)
class RunSpec:
    """What to run. `cfg`: the run's config (None: the checkpoint's own). `checkpoint`: the one it
    continues (None: a new run); `fork`: a new run of its own from it (train.seed may change, and it
    is recorded as a fork). `folder`: the run folder to write (`--run-dir`); None: a new one under
    `out` (None: cfg.log.out). `model`: for your own model (model.arch = FILE.py:FUNCTION), the file
    to import, with its hash (core.models.user.ModelRef); None: a built-in, or for a new run the file
    the config names. Plain data: a job's rank 0 resolves it and hands it to every rank."""

    cfg: Config | None = None
    checkpoint: Path | None = None
    fork: bool = False
    folder: RunFolder | None = None
    out: Path | None = None
    model: Any = None

    @classmethod
    def resolve(
        cls,
        config: Config | str | Path | None = None,
        *,
        preset: str | None = None,
        overrides: Sequence[str] = (),
        resume: str | Path | None = None,
        fork: str | Path | None = None,
        run_dir: str | Path | None = None,
        out: str | Path | None = None,
        model_file: str | Path | None = None,
    ) -> RunSpec:
        """A run as `ganstudio train` describes it: a config (a Config or a TOML file; else the
        `preset`, else the default; a continued checkpoint's own when neither is given) with the
        `overrides` ("key=value") applied; `resume` a checkpoint, or AUTO for `run_dir`'s latest one
        when it has one (else a new run there); `fork` a checkpoint to fork; `run_dir` the folder to
        use (made if missing). A new folder goes under the config's log.out, except a fork's when
        `out` (the CLI's --out, also in `overrides` as log.out) is not given: beside its parent's.
        Your own model's file: the one a new run's model.arch names, or the one a continued
        checkpoint records when it is there with the recorded hash; `model_file` (--model-file)
        names another (see core/models/provenance.py). Nothing is imported here.

        Reads the continued checkpoint (its config, checked here against the overrides when the run
        is built). Raises ConfigError, CheckpointError, RunFolderError or OSError, each saying what
        to do; makes nothing but `run_dir`."""
        from ganstudio.core.checkpoint import io as checkpoints  # torch: only when a run is resolved
        from ganstudio.core.models import provenance

        if fork is not None and (resume is not None or run_dir is not None):
            raise ConfigError(["--fork makes a new run of its own: use it without --resume and --run-dir"])
        folder = RunFolder(Path(run_dir).expanduser()) if run_dir is not None else None
        checkpoint = resume_checkpoint(resume, folder) if fork is None else Path(fork)
        if folder is not None and resume is None and folder.metrics_path.exists():
            raise RunFolderError(
                f"{folder.path} already holds a run; use --resume auto to continue it, or another --run-dir"
            )
        if checkpoint is None:
            cfg = apply_overrides(base_config(config, preset), list(overrides))
            model = _new_model_file(cfg, model_file)
        else:
            ckpt = checkpoints.load(checkpoint)
            model = provenance.for_checkpoint(ckpt, checkpoint, model_file)
            saved = checkpoints.config_of(ckpt)
            base = config if isinstance(config, Config) else load(config) if config else saved
            if fork is not None and base.log.name == saved.log.name:  # named by neither config nor --set
                base = with_values(base, {"log.name": fork_name(saved)})
            cfg = apply_overrides(base, list(overrides))
        if folder is not None:
            folder.path.mkdir(parents=True, exist_ok=True)
        if fork is not None and out is None:
            return cls.beside(checkpoint, cfg, fork=True, model=model)
        # under cfg.log.out
        return cls(cfg, checkpoint=checkpoint, fork=fork is not None, folder=folder, model=model)

    @classmethod
    def beside(
        cls, checkpoint: str | Path, cfg: Config | None = None, *, fork: bool = False, model: Any = None
    ) -> RunSpec:
        """A run that continues `checkpoint` in a new folder beside the run folder the checkpoint is
        in (under cfg.log.out when it is in none): a fork, or the app's Continue of a checkpoint.
        `model`: the ModelRef to build your own model with (provenance.for_checkpoint)."""
        source = RunFolder.of_checkpoint(checkpoint)
        out = source.path.parent if source else None
        return cls(cfg, checkpoint=Path(checkpoint), fork=fork, out=out, model=model)

    @property
    def kind(self) -> str:
        """ "new", "resume" or "fork"."""
        return "new" if self.checkpoint is None else "fork" if self.fork else "resume"

    def parent(self, step: int | None) -> dict[str, Any] | None:
        """What a run in a new folder continued, for its run.json: the checkpoint, its run folder and
        `step` (None for a new run)."""
        if self.checkpoint is None:
            return None
        source = RunFolder.of_checkpoint(self.checkpoint)
        return {
            "kind": self.kind,
            "run": str(source.path) if source is not None else None,
            "step": step,
            "checkpoint": str(self.checkpoint.resolve()),
        }


def base_config(config: Config | str | Path | None = None, preset: str | None = None) -> Config:
    """The config a new run starts from: `config` (a Config, or a TOML file to load), a named
    `preset`, or the default. Raises ConfigError (both given, an unknown preset, a bad file)."""
    from ganstudio.core.config import presets

    if config and preset:
        raise ConfigError(["use either --config or --preset, not both"])
    if isinstance(config, Config):
        return config
    if config:
        return load(config)
    if preset:
        try:
            return presets.get(preset)
        except KeyError as e:
            raise ConfigError([str(e.args[0])]) from None
    return Config()


def _new_model_file(cfg: Config, model_file: str | Path | None) -> Any:
    """The model file a new run imports: `model_file` when named, else the one model.arch names
    (a ModelRef, hashed now); None for a built-in arch."""
    from ganstudio.core.config.arch import is_user
    from ganstudio.core.models import provenance, user

    if not is_user(cfg.model.arch):
        if model_file is not None:
            raise ConfigError([f"--model-file {model_file}: model.arch = {cfg.model.arch!r} is built in"])
        return None
    if model_file is not None:
        return provenance.named_file(cfg.model.arch, model_file)
    return user.locate(cfg.model.arch)


def resume_checkpoint(resume: str | Path | None, folder: RunFolder | None) -> Path | None:
    """The checkpoint `resume` names: AUTO is the folder's latest one (None when it has none yet)."""
    if resume is None:
        return None
    if str(resume) != AUTO:
        return Path(resume)
    if folder is None:
        raise RunFolderError("--resume auto needs --run-dir: the folder whose latest checkpoint to use")
    return folder.latest_checkpoint()
