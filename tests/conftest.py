"""Shared fixtures. Qt runs offscreen so the suite needs no display."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
# Tests train their own metrics classifiers in a throwaway cache, never the user's.
os.environ["GANSTUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="ganstudio-test-cache-")
