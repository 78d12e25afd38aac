"""The launch check for the system libraries Qt loads on Linux: it says what to install, per
distribution, and the app exits with 2 instead of Qt's abort. The dynamic loader is faked, so no X
server and no missing package are needed."""

from __future__ import annotations

import pytest

from ganstudio.qt import app as app_module
from ganstudio.qt import system_libs
from ganstudio.qt.system_libs import PACKAGES, missing_libraries, platform_name, problem


def loader(missing: set[str], needs: dict[str, str] | None = None):
    """A fake dlopen: names in `missing` are absent; a name in `needs` fails on its dependency."""

    def load(name: str) -> None:
        culprit = (needs or {}).get(name, name)
        if culprit in missing:
            raise OSError(f"{culprit}: cannot open shared object file: No such file or directory")

    return load


X11 = {"DISPLAY": ":0"}


def test_missing_xcb_libraries_are_named_with_each_distributions_command():
    message = problem(X11, platform="linux", load=loader({"libxcb-cursor.so.0", "libxcb-icccm.so.4"}))
    assert message is not None
    assert "libxcb-cursor.so.0" in message and "libxcb-icccm.so.4" in message
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in message
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in message
    assert "sudo pacman -S --needed xcb-util-cursor xcb-util-wm" in message


def test_nothing_missing_is_no_problem():
    assert problem(X11, platform="linux", load=loader(set())) is None


def test_a_missing_dependency_is_reported_not_the_library_that_needs_it():
    load = loader({"libxcb-render-util.so.0"}, needs={"libxcb-cursor.so.0": "libxcb-render-util.so.0"})
    assert missing_libraries(["libxcb-cursor.so.0", "libxcb-render-util.so.0"], load) == [
        "libxcb-render-util.so.0"
    ]
    message = problem(X11, platform="linux", load=load)
    assert "libxcb-render-util0" in message and "libxcb-cursor0" not in message


def test_an_unknown_missing_file_is_still_named():
    load = loader({"libfoo.so.9"}, needs={"libxcb.so.1": "libfoo.so.9"})
    message = problem(X11, platform="linux", load=load)
    assert "libfoo.so.9" in message


@pytest.mark.parametrize(
    "environ, qt_args, expected",
    [
        ({"DISPLAY": ":0"}, [], "xcb"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, [], "wayland"),
        ({"XDG_SESSION_TYPE": "wayland"}, [], "wayland"),
        ({"QT_QPA_PLATFORM": "offscreen"}, [], "offscreen"),
        ({"QT_QPA_PLATFORM": "xcb:nograb"}, [], "xcb"),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, [], "wayland"),
        ({"QT_QPA_PLATFORM": "xcb"}, ["-platform", "offscreen"], "offscreen"),
    ],
)
def test_the_platform_qt_will_use(environ, qt_args, expected):
    assert platform_name(environ, qt_args) == expected


@pytest.mark.parametrize(
    "environ", [{"QT_QPA_PLATFORM": "offscreen"}, {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}]
)
def test_other_platforms_need_no_xcb_libraries(environ):
    xcb_only = set(system_libs.XCB_LIBRARIES)
    assert problem(environ, platform="linux", load=loader(xcb_only)) is None


def test_gui_libraries_are_checked_on_every_platform():
    message = problem({"QT_QPA_PLATFORM": "offscreen"}, platform="linux", load=loader({"libEGL.so.1"}))
    assert "libEGL.so.1" in message and "libegl1" in message


def test_other_systems_are_not_checked():
    everything = set(PACKAGES)
    assert problem(X11, platform="darwin", load=loader(everything)) is None
    assert problem(X11, platform="win32", load=loader(everything)) is None


def test_xcb_without_a_display_says_so():
    message = problem({}, platform="linux", load=loader(set()))
    assert "DISPLAY" in message and "ganstudio train" in message


def test_main_prints_what_to_install_and_exits_2_before_qt_starts(monkeypatch, capsys):
    monkeypatch.setattr(system_libs.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(system_libs, "_dlopen", loader({"libxcb-keysyms.so.1"}))

    def no_qt(*_args):
        raise AssertionError("Qt was started despite the missing library")

    monkeypatch.setattr(app_module, "make_app", no_qt)
    assert app_module.main([]) == 2
    err = capsys.readouterr().err
    assert "libxcb-keysyms.so.1" in err
    assert "apt-get install libxcb-keysyms1" in err
    assert "Traceback" not in err


def test_the_check_knows_every_library_the_installed_xcb_plugin_needs():
    """The table follows PySide6: a library its xcb plugin or QtGui links to that the table lacks
    would go unchecked (and the user would be back to Qt's abort)."""
    import subprocess
    from pathlib import Path

    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    files = [
        qt / "plugins" / "platforms" / "libqxcb.so",
        qt / "lib" / "libQt6XcbQpa.so.6",
        qt / "lib" / "libQt6Gui.so.6",
        qt / "lib" / "libQt6DBus.so.6",
    ]
    if not all(f.exists() for f in files):
        pytest.skip("not a Linux PySide6 wheel")
    try:
        out = subprocess.run(
            ["readelf", "-d", *map(str, files)], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("readelf is not available")
    needed = {line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line}
    # Qt's own, the C/C++ runtime and libraries every Linux has (QtCore already needs them).
    base = {
        "libstdc++.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "libc.so.6",
        "libz.so.1",
        "libzstd.so.1",
        "libglib-2.0.so.0",
        "libgthread-2.0.so.0",
        "ld-linux-x86-64.so.2",
    }
    needed = {n for n in needed if not n.startswith(("libQt6", "libicu")) and n not in base}
    assert needed - set(PACKAGES) == set()


def test_the_readme_installs_every_library_the_check_knows():
    from pathlib import Path

    readme = " ".join(Path(__file__).resolve().parents[2].joinpath("README.md").read_text().split())
    readme = readme.replace("\\ ", "")  # commands continued over lines
    for line in system_libs.install_commands(list(PACKAGES)):
        command = line.split(":", 1)[1].strip()
        assert command in readme, command
