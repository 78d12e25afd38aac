"""What a disk says, in words: an OSError as a short reason, the space free, a size in KB/MB/GB.

Shared by everything that writes files (the run folder, its log, checkpoints), so that a full disk
reads the same wherever it is met.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


def describe_os_error(e: BaseException) -> str:
    """An OSError (or the ValueError open() raises for a NUL in a path) as a short reason."""
    if isinstance(e, OSError):
        if e.errno == errno.ENOSPC:
            return "the disk is full"
        if e.errno == errno.EDQUOT:
            return "the disk quota is exceeded"
        if e.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        if e.errno == errno.EROFS:
            return "the file system is read-only"
        if e.errno == errno.ENAMETOOLONG:
            return "a name in the path is too long for the file system"
        if e.errno == errno.ENOTDIR:
            return "a file is in the way where a folder should be"
        return e.strerror or str(e)
    return str(e)


def free_space(path: str | Path) -> str:
    """ "1.2 MB free" on the file system of `path` (or of its nearest existing parent), or "" when
    that cannot be told."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return f"{size_text(shutil.disk_usage(p).free)} free"
    except OSError:
        return ""


def size_text(n: float) -> str:
    """'812 bytes', '3.3 MB': in units of 1000, as the disk tools of most desktops count."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"
