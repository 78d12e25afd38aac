"""The benchmark harness runs and prints its table (a smoke test: no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_print_the_table(tmp_path):
    out = tmp_path / "bench.md"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--only",
            "plots,peer",
            "--markdown",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "torch threads" in text and "cpu" in text  # the machine comes first
    assert text.index("torch threads") < text.index("Benchmark")
    lines = text.splitlines()
    for row in ("1 ", "4a ", "4b "):
        assert any(line.startswith(row) for line in lines), f"no table row {row!r} in:\n{text}"
    assert "Peer (CPU" in text and "Plots: one frame" in text
    md = out.read_text()
    assert md.count("\n| ") >= 4 and "| # | Benchmark |" in md
