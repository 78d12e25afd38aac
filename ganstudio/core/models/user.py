"""Your own model: the file `model.arch` names (FILE.py:FUNCTION or package.module:FUNCTION), found,
hashed and imported, and each problem with it said as a person would (`ModelCodeError`).

Importing a model file runs its code, so this module imports one only when asked to by `load`,
with the SHA-256 it was checked against. Which file that is comes from the user: the text they
wrote for a new run (`locate`), or, for a checkpoint, the file it records when that file is there
with the same hash, or the file they name instead (`for_checkpoint`). `model_file_of` tells the app,
without importing anything, which file a checkpoint or run would import and whether it matches.

    ref = locate("my_gan.py:build")        # ModelRef: arch, path, sha256 (nothing imported)
    code = load(ref)                       # LoadedModel: the module imported, its FUNCTION
    G, D = code.build(cfg, sample_shape)   # FUNCTION's result, checked to be two modules

probe.py checks the modules' outputs once, on a tiny batch, when a trainer builds them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import threading
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ganstudio.core.config import Config, ConfigError
from ganstudio.core.config.arch import UserArch, parse

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], LoadedModel] = {}  # (path, sha256) -> the module imported from it


class ModelCodeError(ConfigError):
    """Your model's code cannot be used: the message names the file (and line, where there is one),
    what was expected and what came back. A ConfigError: the CLI exits 2, the app shows a dialog."""

    def __init__(self, message: str):
        super().__init__([message])
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ModelRef:
    """Which code builds a run's models (plain data: it goes into checkpoints, run.json and across
    a torchrun job). `arch`: model.arch as written; `path`: the absolute path of the file imported;
    `sha256`: its content's hash; `module`: the dotted name it is imported as, for the
    package.module form ("" : imported from `path` as a file)."""

    arch: str
    path: str
    sha256: str
    module: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> ModelRef | None:
        """The record `d` (from a checkpoint or run.json), or None when it is not one."""
        if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("arch", "path", "sha256")):
            return None
        return cls(d["arch"], d["path"], d["sha256"], d.get("module", "") or "")

    @property
    def file_name(self) -> str:
        return Path(self.path).name


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def user_arch(arch: str) -> UserArch | None:
    """The user model model.arch names, or None for a built-in (the validator checked the form)."""
    try:
        return parse(arch)
    except ValueError as e:
        raise ModelCodeError(str(e)) from None


def locate(arch: str, base: str | Path | None = None) -> ModelRef:
    """The file model.arch = `arch` names (relative to `base`, default the working folder), hashed.
    Imports nothing from the file (a package.module's parent packages are imported to find it)."""
    user = user_arch(arch)
    if user is None:
        raise ValueError(f"{arch!r} is a built-in arch, not a model file")
    if user.file:
        path = user.path(base)
        if not path.is_file():
            raise ModelCodeError(
                f"model.arch = {arch!r}: there is no file {path}; give the path of your model file"
            )
        return ModelRef(arch, str(path), _hash(path, arch))
    try:
        spec = importlib.util.find_spec(user.module)
    except Exception as e:  # a parent package that fails to import, or is not a package
        raise ModelCodeError(
            f"model.arch = {arch!r}: cannot find module {user.module}: {_brief(e)}"
        ) from None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ModelCodeError(
            f"model.arch = {arch!r}: no Python file for module {user.module} on sys.path "
            f"(install your package, or use FILE.py:{user.function})"
        )
    path = Path(spec.origin).resolve()
    return ModelRef(arch, str(path), _hash(path, arch), module=user.module)


def _hash(path: Path, arch: str) -> str:
    try:
        return sha256_of(path)
    except OSError as e:
        raise ModelCodeError(f"model.arch = {arch!r}: cannot read {path}: {e.strerror or e}") from None


def _brief(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def where(e: BaseException, path: str | Path) -> str:
    """`path`, and the line in it where `e` was raised (the deepest frame in that file), if any."""
    path = str(path)
    if isinstance(e, SyntaxError) and e.filename == path and e.lineno:
        return f"{path}, line {e.lineno}"
    frames = [f for f in traceback.extract_tb(e.__traceback__) if _same_file(f.filename, path)]
    if not frames:
        return path
    f = frames[-1]
    return f"{path}, line {f.lineno}, in {f.name}"


def _same_file(a: str, b: str) -> bool:
    return a == b or Path(a).resolve() == Path(b).resolve()


# ----- importing -----------------------------------------------------------------------------------


class LoadedModel:
    """A model file imported (`module`) and its FUNCTION, for `ref`."""

    def __init__(self, ref: ModelRef, module: Any):
        self.ref = ref
        self.module = module
        self.function_name = parse(ref.arch).function if parse(ref.arch) is not None else ""
        fn = getattr(module, self.function_name, None)
        if fn is None:
            found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            raise ModelCodeError(
                f"{ref.path}: has no function {self.function_name!r} (model.arch = {ref.arch!r}); "
                f"it defines {', '.join(found) or 'no public function'}"
            )
        if not callable(fn):
            raise ModelCodeError(
                f"{ref.path}: {self.function_name} is a {type(fn).__name__}, not a function "
                "(FUNCTION(cfg, sample_shape) -> (generator, discriminator))"
            )
        self.function = fn

    def build(self, cfg: Config, sample_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        """FUNCTION(cfg, sample_shape), checked to be (generator, discriminator) modules."""
        name = f"{self.function_name}(cfg, sample_shape={tuple(sample_shape)})"
        try:
            out = self.function(cfg, tuple(sample_shape))
        except Exception as e:
            raise ModelCodeError(f"{where(e, self.ref.path)}: {name} raised {_brief(e)}") from None
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            what = f"a {type(out).__name__}" + (f" of {len(out)}" if isinstance(out, (tuple, list)) else "")
            raise ModelCodeError(
                f"{self.ref.path}: {name} must return (generator, discriminator), two torch.nn.Module; "
                f"it returned {what}"
            )
        for role, m in zip(("generator", "discriminator"), out, strict=True):
            if not isinstance(m, nn.Module):
                raise ModelCodeError(
                    f"{self.ref.path}: {name} returned a {type(m).__name__} as the {role}; "
                    "it must be a torch.nn.Module"
                )
        return out[0], out[1]


def load(ref: ModelRef) -> LoadedModel:
    """Import the file `ref` names (runs its code), after checking it still has `ref.sha256`; once per
    file and content in a process. Raises ModelCodeError, naming the file and line, for any failure."""
    with _LOCK:
        key = (ref.path, ref.sha256)
        if key not in _LOADED:
            module = _import_module(ref) if ref.module else _import_file(ref)
            _LOADED[key] = LoadedModel(ref, module)
        loaded = _LOADED[key]
    return loaded if loaded.ref == ref else _relabelled(loaded, ref)


def code_for(arch: str, model: LoadedModel | ModelRef | None) -> LoadedModel | None:
    """The loaded model file for model.arch = `arch`: `model` (loaded now if it is a ModelRef), or
    the file `arch` names, found from the working folder; None for a built-in arch."""
    if user_arch(arch) is None:
        return None
    if isinstance(model, LoadedModel):
        return model
    return load(model if model is not None else locate(arch))


def _relabelled(loaded: LoadedModel, ref: ModelRef) -> LoadedModel:
    """The same module under another arch text (the same file named two ways)."""
    return LoadedModel(ref, loaded.module)


def loaded(ref: ModelRef) -> LoadedModel | None:
    """The model `ref` names if this process has imported it already (imports nothing), else None."""
    with _LOCK:
        found = _LOADED.get((ref.path, ref.sha256))
    return None if found is None else found if found.ref == ref else _relabelled(found, ref)


def _read_checked(ref: ModelRef) -> bytes:
    try:
        source = Path(ref.path).read_bytes()
    except OSError as e:
        raise ModelCodeError(f"cannot read the model file {ref.path}: {e.strerror or e}") from None
    if hashlib.sha256(source).hexdigest() != ref.sha256:
        raise ModelCodeError(
            f"{ref.path} changed since it was checked (SHA-256 {ref.sha256[:12]}…); "
            "start again to use it as it is now"
        )
    return source


def _import_file(ref: ModelRef) -> Any:
    """Run the exact bytes that were hashed as a module of their own (the file's folder on sys.path
    while it runs, so it may import modules beside it)."""
    source = _read_checked(ref)
    path = Path(ref.path)
    name = f"ganstudio_user_{path.stem if path.stem.isidentifier() else 'model'}_{ref.sha256[:12]}"
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    folder = str(path.parent)
    sys.modules[name] = module  # dataclasses and typing look their module up there
    sys.path.insert(0, folder)
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except (Exception, SystemExit) as e:  # SystemExit: a script's sys.exit() at import
        sys.modules.pop(name, None)
        raise ModelCodeError(f"{where(e, path)}: importing it raised {_brief(e)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _import_module(ref: ModelRef) -> Any:
    """Import package.module as Python would, then check it is the file `ref` records."""
    _read_checked(ref)
    try:
        module = importlib.import_module(ref.module)
    except Exception as e:
        raise ModelCodeError(f"{where(e, ref.path)}: importing {ref.module} raised {_brief(e)}") from None
    origin = getattr(module, "__file__", None)
    if origin is None or not _same_file(origin, ref.path):
        raise ModelCodeError(f"module {ref.module} was imported from {origin}, not {ref.path}")
    return module
