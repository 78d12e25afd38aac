"""Checkpoint files: atomic save, verified and validated load, rotation.

A checkpoint is a dict of state_dicts and plain values, every tensor on the CPU (see
`Trainer.state_dict`). It is written to a temporary file in the same folder, fsynced and renamed
over the target, so a crash or a full disk during a save leaves the previous file intact; the
temporary file of a save that was killed is removed by a later save in that folder, or by the next
run that starts there. It is read
with torch.load(weights_only=True) only: a file that needs anything more is refused, never
unpickled, and a file that is not a checkpoint at all is named for what it is (filekind).

Since format version 2 every checkpoint carries a digest of its content (`content_digest`),
checked on every load, so a flipped byte on disk or in a copy is refused instead of trained on.
Version-1 files (no digest) still load, with ckpt["verified"] = False (see `unverified_note`).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import math
import os
import pickle
import re
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ganstudio.core.checkpoint import digest as checkpoint_digest
from ganstudio.core.checkpoint import filekind
from ganstudio.core.checkpoint.names import LATEST, step_in_name
from ganstudio.core.config import Config, ConfigError, from_dict
from ganstudio.core.disk import free_space

FORMAT = "ganstudio-checkpoint"
VERSION = 2  # 2: a content digest under "digest"
READABLE_VERSIONS = (1, 2)
DIGEST_KEY = "digest"
# Keys load() adds to the dict it returns; a dict saved again is sealed without them.
_LOAD_ONLY_KEYS = (DIGEST_KEY, "config_obj", "verified")

# A save writes its temporary file continuously and renames it within seconds (a large model on a
# slow network disk: a minute or so), so one untouched for this long belongs to a save that died.
# Even a writer stalled for longer (a hung network mount) loses nothing when its file goes: it goes
# on writing to the unlinked file, its rename then fails, and its previous checkpoint stays.
STALE_TEMP_S = 600.0
# Exactly the names save_atomic's mkstemp(prefix=".<name>.<host>-<pid>.", suffix=".tmp") makes, and
# those of versions before the writer was in the name (".<name>.", judged by their age alone).
_TEMP_NAME = re.compile(r"^\.(?:.+?)\.(?:(?P<host>[0-9a-f]{6})-(?P<pid>\d+)\.)?[a-z0-9_]{8}\.tmp$")
# How many other files a refusal of a damaged checkpoint tries, highest step first, to name one to use.
_INSTEAD_TRIES = 10

# Top-level keys and the Python type each must have; load() refuses a file that differs.
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "config": dict,
    "step": int,
    "epoch": float,
    "wall": float,
    "models": dict,
    "optimizers": dict,
    "sampler": dict,
    "rng": dict,
    "fixed_noise": torch.Tensor,
    "stats_accumulator": dict,
    "history": dict,
}


class CheckpointError(Exception):
    """A checkpoint that cannot be written or read; str(e) names the file and what is wrong."""


class _Damaged(CheckpointError):
    """A file that is, or was, a checkpoint but cannot be trusted: load() adds which to use instead."""


def content_digest(obj: dict[str, Any], method: str = checkpoint_digest.METHOD) -> str:
    """The digest of checkpoint `obj`'s content (see digest.py), without the keys load() adds."""
    return checkpoint_digest.digest({k: v for k, v in obj.items() if k not in _LOAD_ONLY_KEYS}, method)


def seal(obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of checkpoint `obj` with its content digest under "digest"."""
    body = {k: v for k, v in obj.items() if k not in _LOAD_ONLY_KEYS}
    return {**body, DIGEST_KEY: content_digest(body)}


def on_cpu(obj: Any) -> Any:
    """`obj` with every tensor on the CPU (no copy of those already there), dict types and their
    attributes (a state_dict's _metadata) kept: a checkpoint, and so its digest, is device-free."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        out = copy.copy(obj)
        for k, v in obj.items():
            out[k] = on_cpu(v)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(on_cpu(v) for v in obj)
    return obj


# ----- saving --------------------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, and harmless to skip there.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_atomic(obj: dict[str, Any], path: str | Path) -> Path:
    """Write checkpoint `obj`, sealed with its digest, so that `path` is always either the old file
    or the complete new one. Any failure is a CheckpointError; an interrupt goes on up as it is."""
    path = Path(path)
    sealed = seal(obj)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.", suffix=".tmp", dir=path.parent
        )
    except OSError as e:
        raise CheckpointError(_write_failed(path, e)) from e
    tmp = Path(tmp_name)
    out = _Writes(None)
    try:
        with os.fdopen(fd, "wb") as f:
            out = _Writes(f)
            torch.save(sealed, out)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, Exception):
            raise CheckpointError(_write_failed(path, out.error or e)) from e
        raise
    _fsync_dir(path.parent)
    return path


class _Writes:
    """The temporary file, keeping the OSError of a failed write: torch.save reports one (a full
    disk) as RuntimeError("... unexpected pos ..."), which says nothing of the reason."""

    def __init__(self, f: Any):
        self._f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self._f.flush()


def _write_failed(path: Path, e: Exception) -> str:
    if isinstance(e, OSError):
        reason = e.strerror or str(e)
    else:
        reason = f"writing failed ({_first_line(e)})"
    if path.is_file():
        before = "The previous checkpoint is unchanged"
    elif any(p.suffix == ".pt" for p in _listing(path.parent)):
        before = f"The checkpoints already in {path.parent} are unchanged"
    else:
        before = "Nothing was written"
    free = free_space(path.parent)
    where = f" ({free} there)" if free else ""
    if isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR):
        advice = "choose a folder you can write to"
    else:
        advice = f"free some disk space{where} or choose another folder"
    return f"cannot write checkpoint {path}: {reason}. {before}; {advice}, then save again."


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def remove_stale_temps(folder: str | Path, now: float | None = None) -> list[Path]:
    """Delete the temporary files that saves killed mid-write left in `folder` (a save does, and a
    run starting in its folder): only names that save_atomic makes, only plain files, and only those
    no live process is writing: their writer (named in them) was a process of this machine that has
    ended, or they were untouched for STALE_TEMP_S."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if not m:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and (now - st.st_mtime > STALE_TEMP_S or _writer_ended(m)):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already, or not ours to delete: the save goes on either way
    return removed


def _host_tag() -> str:
    """This machine, in six hex digits: a temporary file's writer is a process of some machine (a
    run folder on a network disk is written from more than one)."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def _writer_ended(m: re.Match) -> bool:
    """Whether the process a temporary file's name names has ended. Only a process of this machine
    can be asked, and never on Windows, where os.kill would end it rather than ask."""
    if m["pid"] is None or m["host"] != _host_tag() or os.name == "nt":
        return False
    pid = int(m["pid"])
    if pid == os.getpid():
        return False  # this process: a save of another of its threads may be under way
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process (EPERM): alive
        return False
    return False


# ----- loading -------------------------------------------------------------------------------------


def load(path: str | Path) -> dict[str, Any]:
    """Read, verify and check a checkpoint file: its digest, structure and config. Tensors stay on
    the CPU; ckpt["verified"] says whether a digest was checked (False for a version-1 file).

    Shapes are checked against the config when a Trainer is built from it (`Trainer.from_checkpoint`),
    which checks every state against fresh objects before anything is loaded.
    """
    path = Path(path)
    try:
        return _load(path)
    except _Damaged as e:
        raise CheckpointError(f"{e} {_instead(path)}") from None


def _load(path: Path) -> dict[str, Any]:
    obj = _read(path)
    verified = _verify(obj, path)
    ckpt = check(obj, path)
    ckpt["verified"] = verified
    return ckpt


def unverified_note(path: str | Path) -> str:
    """What to tell someone who opened a checkpoint that load() marked verified = False."""
    return (
        f"note: {path} is a version-1 checkpoint, written before checkpoints carried a digest, so "
        "it cannot be checked for damage (checkpoints saved by this GAN Studio carry one)."
    )


def _read(path: Path) -> Any:
    """torch.load of a file that looks like a torch archive; anything else is named and refused."""
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; choose a .pt checkpoint file (for example {LATEST})")
    try:
        with open(path, "rb") as f:
            head = f.read(filekind.HEAD_BYTES)
            more = f.read(filekind.PICKLE_SCAN_BYTES) if filekind.is_pickle(head) else b""
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    unreadable = f"{path} is not a readable checkpoint: it is"
    if not head:
        raise _Damaged(
            f"{unreadable} empty (0 bytes): not a checkpoint, or one whose writing never finished."
        )
    if head.startswith(b"PK"):
        try:
            names = filekind.zip_members(path)
        except Exception as e:  # zipfile raises many kinds for a damaged directory
            raise _Damaged(
                f"{unreadable} damaged: a zip archive whose directory cannot be read, so "
                f"truncated or corrupt ({_first_line(e)})."
            ) from None
        if not filekind.is_torch_archive(names):
            raise CheckpointError(
                f"{unreadable} a zip archive, but not one written by torch.save, so not a "
                "GAN Studio checkpoint"
            )
        return _torch_load(path)
    if filekind.is_pickle(head):
        suspect = [g for g in filekind.pickle_globals(head + more) if not _TORCH_GLOBAL.match(g)]
        if suspect:
            raise CheckpointError(_refused(path, "it is a Python pickle", suspect[0]))
        raise CheckpointError(
            f"{unreadable} a Python pickle (torch.save's legacy format, perhaps), not a "
            "GAN Studio checkpoint, which is a zip archive; it was not unpickled"
        )
    what = filekind.known_format(head)
    if what == "a text file":
        raise CheckpointError(
            f"{unreadable} a text file, not a GAN Studio checkpoint (it begins {filekind.text_start(head)!r})"
        )
    if what:
        raise CheckpointError(f"{unreadable} {what}, not a GAN Studio checkpoint")
    raise _Damaged(
        f"{unreadable} not a zip archive written by torch.save (it begins with the bytes "
        f"{head[:8].hex(' ')}), so not a GAN Studio checkpoint, or one damaged beyond reading."
    )


# Globals of torch's own formats: a pickle that names only these is torch's legacy format.
_TORCH_GLOBAL = re.compile(r"^(torch\.\w*Storage|torch\._utils\._rebuild_\w+|collections\.OrderedDict)$")


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt bytes can fail anywhere in the unpickler: KeyError, IndexError...
        found = re.search(r"GLOBAL ([\w.]+)", str(e)) if isinstance(e, pickle.UnpicklingError) else None
        if found:
            raise CheckpointError(_refused(path, "it is a torch archive", found.group(1))) from None
        raise _Damaged(
            f"{path} is not a readable checkpoint: it is damaged: a torch archive that cannot "
            f"be read ({_first_line(e)})."
        ) from None


def _refused(path: Path, what: str, name: str) -> str:
    # torch's own refusal advises allowlisting the global or weights_only=False: never pass that on.
    return (
        f"{path} was refused: {what} that asks for the Python object {name} (GLOBAL {name}). A GAN "
        "Studio checkpoint holds only tensors and plain values, and loading this file could run "
        "code, so it was not unpickled"
    )


# Lines of torch's messages that give advice about loading untrusted files: never passed on.
_ADVICE = re.compile(r"weights.only|safe_globals|torch\.load|documentation|trusted source", re.IGNORECASE)


def _first_line(e: BaseException) -> str:
    """The line of an error's message that says what went wrong, without torch's advice."""
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    line = next((t for t in lines if not _ADVICE.search(t)), type(e).__name__)
    return line.split(" This is an internal miniz error")[0][:300]


def _verify(obj: Any, path: Path) -> bool:
    """Whether `obj`'s digest was checked (True) or it has none to check (version 1: False).
    Raises _Damaged when it does not match."""
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        return False  # check() says what it is
    stored = obj.get(DIGEST_KEY)
    if stored is None:
        if obj.get("version") == 1 or obj.get("version") not in READABLE_VERSIONS:
            return False  # version 1 had no digest; check() refuses an unknown version
        raise _Damaged(
            f"{path} is damaged: it has no content digest, which every checkpoint of format "
            "version 2 carries."
        )
    method = stored.partition(":")[0] if isinstance(stored, str) else None
    if method not in checkpoint_digest.TENSOR_CHECKS:
        raise _Damaged(f"{path} is damaged: its content digest is unreadable ({str(stored)[:40]!r}).")
    try:
        actual = content_digest(obj, method)
    except Exception as e:  # damage torch.load let through, in a form no checkpoint has
        raise _Damaged(f"{path} is damaged: its content cannot be read back ({_first_line(e)}).") from None
    if actual != stored:
        raise _Damaged(
            f"{path} is damaged: its content does not match the digest stored in it, so "
            "bytes changed after it was written (a disk or copy error)."
        )
    return True


def _instead(path: Path) -> str:
    """Which checkpoint to use instead of damaged `path`: the other one in its folder at the highest
    step that verifies. The step is the one in a step or manual file's name, and a file of another
    name (latest.pt that a copy made a file of its own, a file renamed by hand) is read for it, never
    the files' modification times, which a copy (cp -r, a sync) rewrites in any order. Hard links to
    `path` (latest.pt is one of the newest step file) hold the same bytes: never offered."""
    folder = path.parent
    try:
        own = path.stat()
        entries = [p for p in folder.iterdir() if p.suffix == ".pt" and not p.name.startswith(".")]
    except OSError:
        entries, own = [], None
    seen = {(own.st_dev, own.st_ino)} if own is not None else set()
    named, unnamed = [], []
    # Of two names for one file, the step file's (latest.pt moves on): step files go first.
    for p in sorted(entries, key=lambda p: (p.name == LATEST, p.name)):
        try:
            st = p.stat()
        except OSError:
            continue
        inode = (st.st_dev, st.st_ino)
        if not stat.S_ISREG(st.st_mode) or inode in seen:
            continue
        seen.add(inode)
        step = step_in_name(p.name)
        if step is None:
            unnamed.append(p)
        else:
            named.append((step, p))
    best: tuple[int, Path] | None = None
    tried = 0
    for p in unnamed[:_INSTEAD_TRIES]:  # their steps are known only by reading them
        tried += 1
        step = _verified_step(p)
        if step is not None and (best is None or step > best[0]):
            best = (step, p)
    # Highest step first; at a step one of another name has too, the step file (latest.pt moves on).
    for step, p in sorted(named, key=lambda c: -c[0]):
        if tried == _INSTEAD_TRIES or (best is not None and step < best[0]):
            break
        tried += 1
        found = _verified_step(p)
        if found is not None:
            best = (found, p) if best is None or found >= best[0] else best
            break
    if best is not None:
        return (
            f"Use {best[1]} instead: it is the newest other checkpoint in {folder} that verifies "
            f"(step {best[0]})."
        )
    if tried:
        return f"No other checkpoint in {folder} verifies; use one from another run or a backup."
    return f"There is no other checkpoint in {folder} to use instead."


def _verified_step(path: Path) -> int | None:
    """The step of the checkpoint at `path` when it loads and its digest verifies, else None."""
    try:
        ckpt = _load(path)
    except CheckpointError:
        return None
    return int(ckpt["step"]) if ckpt["verified"] else None


def check(obj: Any, path: str | Path = "checkpoint") -> dict[str, Any]:
    """Check a checkpoint dict's format, version, structure and config; adds ckpt["config_obj"]."""
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a GAN Studio checkpoint (no '{FORMAT}' marker)")
    version = obj.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        newer = " (a newer GAN Studio wrote it)" if isinstance(version, int) and version > VERSION else ""
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}{newer}; this GAN Studio reads versions "
            + " and ".join(str(v) for v in READABLE_VERSIONS)
        )
    for key, kind in REQUIRED.items():
        if key not in obj:
            raise CheckpointError(f"{path} is incomplete: it has no '{key}'")
        if not isinstance(obj[key], kind):
            raise CheckpointError(f"{path} is damaged: '{key}' is a {type(obj[key]).__name__}")
    for key in ("step", "epoch", "wall"):
        value = obj[key]
        if isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise CheckpointError(f"{path} is damaged: '{key}' is {value!r}, not a finite number >= 0")
    for group, names in (("models", ("G", "D")), ("optimizers", ("G", "D"))):
        for name in names:
            if not isinstance(obj[group].get(name), dict):
                raise CheckpointError(f"{path} is incomplete: it has no {group}.{name} state")
    try:
        obj["config_obj"] = from_dict(obj["config"], source=f"{path}'s config")
    except ConfigError as e:
        raise CheckpointError(f"{path} holds an invalid config:\n" + "\n".join(e.problems)) from None
    return obj


def config_of(ckpt: dict[str, Any]) -> Config:
    return ckpt["config_obj"]
