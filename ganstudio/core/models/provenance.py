"""Which model file a checkpoint or run would import, answered without importing anything.

A checkpoint of your own model records its `model.arch`, the file's absolute path and its SHA-256
("model_code"), and its run folder keeps a copy of the file. Continuing it (resume, fork, sample,
the app's Open) imports that file only when it is there with the same hash; otherwise the user
names the file to use (`--model-file`, or the app's question), never silently.

    check = model_file_of("runs/x/checkpoints/latest.pt")   # or the run folder; None: a built-in
    check.path, check.sha256, check.matches, check.copy     # what the app shows before asking
    ref = for_checkpoint(ckpt, path, model_file=None)       # the ModelRef to load, or ModelCodeError
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganstudio.core.config.arch import is_user
from ganstudio.core.models.user import ModelCodeError, ModelRef, sha256_of

RECORD_KEY = "model_code"  # a checkpoint's record of its model file


@dataclass(frozen=True)
class ModelFileCheck:
    """What continuing a checkpoint of your own model would import.

    `recorded`: the file the checkpoint names and the hash it was trained with; `sha256`: that
    file's hash now (None: it is not there); `copy`: the run folder's copy with the recorded hash,
    if there is one; `checkpoint`: the checkpoint asked about."""

    recorded: ModelRef
    sha256: str | None
    copy: Path | None
    checkpoint: Path | None

    @property
    def arch(self) -> str:
        return self.recorded.arch

    @property
    def path(self) -> Path:
        """The file that would be imported."""
        return Path(self.recorded.path)

    @property
    def exists(self) -> bool:
        return self.sha256 is not None

    @property
    def matches(self) -> bool:
        """Whether the file is there with the hash the checkpoint records (then it may be used)."""
        return self.sha256 == self.recorded.sha256

    def problem(self, how: str = "--model-file PATH") -> str | None:
        """Why the recorded file cannot be used as it is, naming both paths and what to do; None if it can."""
        if self.matches:
            return None
        r = self.recorded
        whose = f"{self.checkpoint}'s model" if self.checkpoint else "the checkpoint's model"
        state = (
            "that file is not there"
            if self.sha256 is None
            else f"that file has changed since (SHA-256 {self.sha256[:12]}… now)"
        )
        copy = (
            f"The run folder keeps the file it was trained with: {self.copy}. "
            if self.copy is not None
            else "The run folder holds no copy of it. "
        )
        use = how.replace("PATH", str(self.copy)) if self.copy is not None else how
        if self.copy is not None and self.sha256 is not None:
            use += f" (or, for the file as it is now, {how.replace('PATH', str(self.path))})"
        return (
            f"{whose} (model.arch = {r.arch!r}) was trained with {r.path} (SHA-256 {r.sha256[:12]}…), and "
            f"{state}. {copy}Importing a model file runs its code, so name the file to use: {use}"
        )


def recorded(ckpt: dict[str, Any]) -> ModelRef | None:
    """The model file checkpoint `ckpt` records, or None for a built-in arch."""
    arch = ckpt["config_obj"].model.arch
    if not is_user(arch):
        return None
    ref = ModelRef.from_dict(ckpt.get(RECORD_KEY))
    if ref is None:
        raise ModelCodeError(
            f"the checkpoint has model.arch = {arch!r} but no record of its model file and hash; "
            "it was not written by GAN Studio's trainer"
        )
    return ref


def check_checkpoint(ckpt: dict[str, Any], path: str | Path | None = None) -> ModelFileCheck | None:
    """What continuing the loaded checkpoint `ckpt` (read from `path`) would import; None for a built-in."""
    ref = recorded(ckpt)
    if ref is None:
        return None
    return _check(ref, path)


def _check(ref: ModelRef, checkpoint: str | Path | None) -> ModelFileCheck:
    from ganstudio.core.run.folder import RunFolder

    try:
        now = sha256_of(ref.path) if Path(ref.path).is_file() else None
    except OSError:
        now = None
    folder = RunFolder.of_checkpoint(checkpoint) if checkpoint is not None else None
    copy = folder.model_copy(ref) if folder is not None else None
    return ModelFileCheck(ref, now, copy, Path(checkpoint) if checkpoint is not None else None)


def model_file_of(source: str | Path) -> ModelFileCheck | None:
    """For the app, before it imports anything: which model file opening `source` (a checkpoint
    file, or a run folder: its latest checkpoint, else what its run.json records) would import, its
    hash now and whether it matches; None for a built-in arch. Reads the checkpoint
    (weights_only) but runs no user code. Raises CheckpointError for a checkpoint that cannot be
    read, ModelCodeError for one of your model without a record of its file."""
    from ganstudio.core.checkpoint import io as checkpoints
    from ganstudio.core.run.folder import RunFolder

    source = Path(source)
    if source.is_dir():
        folder = RunFolder(source)
        latest = folder.latest_checkpoint()
        if latest is None:
            ref = ModelRef.from_dict(folder.meta().get("model"))
            return _check(ref, None) if ref is not None else None
        source = latest
    return check_checkpoint(checkpoints.load(source), source)


def for_checkpoint(
    ckpt: dict[str, Any], path: str | Path | None, model_file: str | Path | None = None
) -> ModelRef | None:
    """The model file to import to continue checkpoint `ckpt` (read from `path`): `model_file` when
    the user names one (used whatever its hash), else the recorded file when it is there with the
    recorded hash; None for a built-in arch. Otherwise ModelCodeError naming both paths and what to do."""
    check = check_checkpoint(ckpt, path)
    if check is None:
        if model_file is not None:
            raise ModelCodeError(
                f"--model-file {model_file}: {path} uses the built-in model.arch = "
                f"{ckpt['config_obj'].model.arch!r}, not a model file"
            )
        return None
    if model_file is not None:
        return named_file(check.recorded.arch, model_file)
    problem = check.problem()
    if problem is not None:
        raise ModelCodeError(problem)
    return check.recorded


def named_file(arch: str, model_file: str | Path) -> ModelRef:
    """The file the user names to build `arch`'s models with, hashed (imported from its path)."""
    path = Path(model_file).expanduser().resolve()
    if not path.is_file():
        raise ModelCodeError(f"--model-file {model_file}: there is no file {path}")
    try:
        return ModelRef(arch, str(path), sha256_of(path))
    except OSError as e:
        raise ModelCodeError(f"--model-file {model_file}: cannot read {path}: {e.strerror or e}") from None
