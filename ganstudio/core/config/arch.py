"""What `model.arch` may say: a built-in name, or your own model as `FILE.py:FUNCTION` or
`package.module:FUNCTION` (FUNCTION(cfg, sample_shape) -> (generator, discriminator)).

Only the text is read here: nothing is imported (importing a model file runs its code; that is
core/models/user.py's business, and only for a file the user named). `arch_problem` checks the
form, for the validator; `arch_file_problem` also checks that a named file exists, for a new run
and for the app's field.
"""

from __future__ import annotations

import keyword
import reprlib
from dataclasses import dataclass
from pathlib import Path

ARCHS = ("mlp", "dcgan", "resnet")
# The image sides each built-in convolutional arch can make (mlp makes any, and 2D points too).
IMAGE_SIZES = {"dcgan": (16, 28, 32, 64), "resnet": (16, 32, 64)}
ALLOWED = (
    f"one of {', '.join(repr(a) for a in ARCHS)}, or your own model as FILE.py:FUNCTION or "
    "package.module:FUNCTION"
)


@dataclass(frozen=True)
class UserArch:
    """Your own model: `file` (a .py path as written, relative to the working folder) or `module`
    (a dotted module name importable from sys.path), and the FUNCTION in it."""

    text: str
    function: str
    file: str = ""
    module: str = ""

    def path(self, base: str | Path | None = None) -> Path | None:
        """The file's absolute path (relative to `base`, default the working folder); None for a module."""
        if not self.file:
            return None
        p = Path(self.file).expanduser()
        return (p if p.is_absolute() else Path(base or Path.cwd()) / p).resolve()


_short = reprlib.Repr()
_short.maxstring = 80
show = _short.repr  # a value named in a message, cut to a readable length


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def parse(text: str) -> UserArch | None:
    """The user model `text` names, or None for a built-in name. Raises ValueError saying what is
    wrong with a text that is neither."""
    if text in ARCHS:
        return None
    where, sep, function = text.rpartition(":")
    if not sep or not where:
        raise ValueError(f"model.arch = {show(text)} is not allowed; it must be {ALLOWED}")
    if not _identifier(function):
        raise ValueError(
            f"model.arch = {show(text)}: {show(function)} after the last ':' is not a Python function name"
        )
    if where.endswith(".py"):
        return UserArch(text, function, file=where)
    if all(_identifier(part) for part in where.split(".")):
        return UserArch(text, function, module=where)
    raise ValueError(
        f"model.arch = {show(text)}: {show(where)} is neither a .py file nor a dotted module name; "
        f"it must be {ALLOWED}"
    )


def is_user(text: str) -> bool:
    """Whether `text` names your own model (a valid FILE.py:FUNCTION or package.module:FUNCTION)."""
    try:
        return parse(text) is not None
    except ValueError:
        return False


def arch_problem(text: str) -> str | None:
    """What is wrong with model.arch = `text` as text (the validator's check), or None."""
    try:
        parse(text)
    except ValueError as e:
        return str(e)
    return None


def arch_file_problem(text: str, base: str | Path | None = None) -> str | None:
    """arch_problem, and for FILE.py:FUNCTION whether the file is there (relative to `base`, default
    the working folder). Reads no file and imports nothing: for a new run and the app's field."""
    problem = arch_problem(text)
    if problem is not None:
        return problem
    user = parse(text)
    path = user.path(base) if user is not None else None
    if path is not None and not path.is_file():
        return f"model.arch = {show(text)}: there is no file {path}; give the path of your model file"
    return None


def arch_label(text: str) -> str:
    """A short name for the arch, fit for a run folder's name: a built-in's name, your file's stem
    or your module's last part ("my_gan.py:build" -> "my_gan")."""
    try:
        user = parse(text)
    except ValueError:
        return text
    if user is None:
        return text
    return Path(user.file).stem if user.file else user.module.rsplit(".", 1)[-1]
