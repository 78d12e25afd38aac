"""The window appears without importing torch (seconds of start-up): torch loads when training
starts or a checkpoint opens, on the worker thread."""

import subprocess
import sys

SCRIPT = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from ganstudio.qt.app import build_window, make_app
app = make_app([])
window = build_window()
window.show()
app.processEvents()
print("torch" in sys.modules)
"""


def test_main_window_shows_without_importing_torch(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
