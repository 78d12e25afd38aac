"""What a file that is not a readable checkpoint is, said without reading it as one.

torch.load of an arbitrary file says little that helps: a text file opened as a checkpoint comes
back as an unpickling refusal with advice to allowlist a "global" named after the file's bytes.
These functions look at a file's first bytes (and a zip archive's directory) instead, and scan a
pickle's opcodes for the globals it would import, with pickletools, which runs nothing.
"""

from __future__ import annotations

import io
import pickletools
import re
import zipfile
from pathlib import Path

HEAD_BYTES = 4096  # read to tell a text file from a binary one
PICKLE_SCAN_BYTES = 1 << 20  # how much of a pickle to scan for globals

# Leading bytes of formats someone might open by mistake (sample PNGs, .npy points...).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.]*$")


def known_format(head: bytes) -> str | None:
    """'a PNG image', 'a text file', ... for a file that starts with `head`; None if unknown."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if is_text(head):
        return "a text file"
    return None


def is_text(head: bytes) -> bool:
    """Whether `head` (a file's first bytes) is UTF-8 text: no NUL, no control characters but
    whitespace; a multi-byte character cut off at the end of `head` is allowed."""
    if not head or b"\x00" in head:
        return False
    for cut in range(4):  # a character split by the end of the read
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return False
    return all(ch.isprintable() or ch in "\t\n\r\f\v" for ch in text)


def text_start(head: bytes, limit: int = 60) -> str:
    """The first line of a text file's head, shortened, for a message."""
    line = head.decode("utf-8", errors="replace").strip().splitlines()[0] if head.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def zip_members(path: Path) -> list[str]:
    """The names in a zip archive's directory; raises zipfile.BadZipFile (or OSError) if it has none
    that can be read (a truncated or damaged archive)."""
    with zipfile.ZipFile(path) as z:
        return z.namelist()


def is_torch_archive(names: list[str]) -> bool:
    """torch.save's zip format: one top folder holding data.pkl (the pickle) and the storages."""
    return any(n.endswith("/data.pkl") for n in names)


def is_pickle(head: bytes) -> bool:
    """A binary pickle (protocol 2 to 5) starts with PROTO and its protocol number."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def pickle_globals(data: bytes) -> list[str]:
    """'module.name' of every global the pickles in `data` would import, in order, without running
    them (one after another: the legacy torch.save format is several pickles in a row). Stops at the
    first thing that is not a pickle opcode."""
    stream = io.BytesIO(data)
    found: list[str] = []
    strings: list[str] = []  # the last strings pushed: STACK_GLOBAL takes its names from them
    try:
        while stream.tell() < len(data):
            for op, arg, _ in pickletools.genops(stream):
                if op.name == "GLOBAL":
                    module, _, name = str(arg).partition(" ")
                    _add_global(found, module, name)
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    _add_global(found, strings[-2], strings[-1])
                elif isinstance(arg, str):
                    strings = [*strings[-1:], arg]
    except (ValueError, EOFError, UnicodeDecodeError, OverflowError):
        pass  # the end of the pickles (or damage): what was found so far is the answer
    return found


def _add_global(found: list[str], module: str, name: str) -> None:
    # Random bytes can parse as a GLOBAL opcode: only names that look like Python's count.
    if _IDENTIFIER.match(module) and _IDENTIFIER.match(name):
        # Protocol 2 writes Python 3's builtins under their Python 2 name, as pickle reads them.
        qualified = f"{'builtins' if module == '__builtin__' else module}.{name}"
        if qualified not in found:
            found.append(qualified)
