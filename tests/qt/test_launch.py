"""The window appears without importing torch (seconds of start-up): torch loads when training
starts or a checkpoint opens, on the worker thread. Nor does it wait for `cuda.bindings`, which
pyqtgraph would import if torch's CUDA wheels installed it; torch can still import it later."""

import importlib.util
import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from ganstudio.qt.app import build_window, make_app
app = make_app([])
window = build_window()
window.show()
app.processEvents()
shown = {m: m in sys.modules for m in ("torch", "torchvision", "sklearn", "cuda.bindings")}
if "--cuda" in sys.argv:
    import cuda.bindings.runtime  # what torch's CUDA paths import later, in the same process
    shown["cuda.bindings importable later"] = True
print(json.dumps(shown))
"""


def launch(tmp_path, *args: str) -> dict[str, bool]:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_main_window_shows_without_importing_torch(tmp_path):
    shown = launch(tmp_path)
    assert not shown["torch"] and not shown["torchvision"] and not shown["sklearn"], shown


def has_cuda_bindings() -> bool:
    try:
        return importlib.util.find_spec("cuda.bindings") is not None
    except ModuleNotFoundError:  # no "cuda" namespace package at all
        return False


@pytest.mark.skipif(not has_cuda_bindings(), reason="cuda.bindings is not installed")
def test_cuda_bindings_are_not_imported_at_startup_but_stay_importable(tmp_path):
    shown = launch(tmp_path, "--cuda")
    assert not shown["cuda.bindings"], shown
    assert shown["cuda.bindings importable later"]
