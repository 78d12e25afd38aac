"""Check, before Qt starts, that the system libraries Qt's Linux plugins load are installed.

PySide6's wheels bundle Qt but not the X11/GL system libraries it links to. When one is missing,
Qt prints "Could not load the Qt platform plugin xcb" and aborts the process (exit 134), and a
missing GL/EGL/fontconfig library makes `import PySide6.QtWidgets` fail with a traceback. Both say
nothing a user can act on, so `app.main` calls `problem()` first and prints its message instead.

The sonames are the NEEDED entries (`readelf -d`) of PySide6 6.11's libQt6Gui/libQt6DBus (any
platform) and of plugins/platforms/libqxcb.so with libQt6XcbQpa (X11). Deliberately Qt-free: this
module runs before PySide6.QtGui is imported, and never imports it.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping, Sequence

# soname: (Debian/Ubuntu, Fedora, Arch) package that provides it.
PACKAGES: dict[str, tuple[str, str, str]] = {
    # Needed by QtGui on any platform (offscreen too).
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    # Needed by the xcb (X11) platform plugin.
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
}
GUI_LIBRARIES = (
    "libGL.so.1",
    "libEGL.so.1",
    "libfontconfig.so.1",
    "libfreetype.so.6",
    "libxkbcommon.so.0",
    "libdbus-1.so.3",
)
XCB_LIBRARIES = tuple(name for name in PACKAGES if name not in GUI_LIBRARIES)
INSTALLERS = (
    ("Debian/Ubuntu", "sudo apt-get install"),
    ("Fedora", "sudo dnf install"),
    ("Arch", "sudo pacman -S --needed"),
)


def _dlopen(name: str) -> None:
    ctypes.CDLL(name)


def missing_libraries(names: Sequence[str], load: Callable[[str], None] | None = None) -> list[str]:
    """The sonames among `names` (and their own dependencies) that the dynamic loader cannot
    open, in the order found.

    A library that is present but needs a missing one fails to load too; the loader's message
    names the file it could not find ("libxcb-util.so.1: cannot open shared object file"), so that
    file is reported rather than the one asked for."""
    load = load or _dlopen
    missing: list[str] = []
    for name in names:
        try:
            load(name)
        except OSError as e:
            culprit = str(e).split(":", 1)[0].strip()
            culprit = culprit if culprit.startswith("lib") and ".so" in culprit else name
            if culprit not in missing:
                missing.append(culprit)
    return missing


def platform_name(environ: Mapping[str, str], qt_args: Sequence[str] = ()) -> str:
    """The platform plugin Qt will try first: `-platform NAME`, else QT_QPA_PLATFORM, else Qt's
    Linux default (wayland in a Wayland session, else xcb)."""
    args = list(qt_args)
    for i, arg in enumerate(args):
        if arg in ("-platform", "--platform") and i + 1 < len(args):
            return args[i + 1].split(":", 1)[0]
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        # "wayland;xcb" tries each in turn: the first one decides what a plain launch needs.
        return chosen.split(";", 1)[0].split(":", 1)[0]
    wayland = environ.get("WAYLAND_DISPLAY") or environ.get("XDG_SESSION_TYPE") == "wayland"
    return "wayland" if wayland else "xcb"


def install_commands(missing: Sequence[str]) -> list[str]:
    """One install command per distribution family, for the given missing sonames."""
    lines = []
    for column, (family, command) in enumerate(INSTALLERS):
        packages = dict.fromkeys(PACKAGES[n][column] for n in missing if n in PACKAGES)
        if packages:
            lines.append(f"  {family + ':':15} {command} {' '.join(packages)}")
    return lines


def problem(
    environ: Mapping[str, str] | None = None,
    qt_args: Sequence[str] = (),
    platform: str | None = None,
    load: Callable[[str], None] | None = None,
) -> str | None:
    """Why Qt could not start its window on this system (a message for the user), or None.

    Only on Linux; only the libraries of the platform plugin that will be used (none extra for
    offscreen, wayland or the others)."""
    environ = os.environ if environ is None else environ
    if (platform or sys.platform) != "linux":
        return None
    plugin = platform_name(environ, qt_args)
    names = list(GUI_LIBRARIES)
    if plugin == "xcb":
        if not environ.get("DISPLAY"):
            return (
                "ganstudio: error: no display to open the window on: DISPLAY is not set.\n"
                "Run it in a desktop session (or `ssh -X`), or train without a window: "
                "ganstudio train --help"
            )
        names += XCB_LIBRARIES
    missing = missing_libraries(names, load)
    if not missing:
        return None
    where = "Qt's X11 (xcb) platform plugin" if plugin == "xcb" else "Qt"
    lines = [
        f"ganstudio: error: {where} needs system libraries that are not installed: {', '.join(missing)}.",
        "Install them with your distribution's package manager:",
        *install_commands(missing),
    ]
    unknown = [n for n in missing if n not in PACKAGES]
    if unknown:
        lines.append(f"  (for {', '.join(unknown)}: the package that provides that file)")
    return "\n".join(lines)
