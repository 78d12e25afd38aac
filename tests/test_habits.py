"""The habits that keep the code's shape (STYLE.md, 16): the import contracts hold, and modules and
functions stay small. These run with the tests, so CI checks them on every change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MAX_LINES = 600
MAX_COMPLEXITY = 15
MAX_WINDOW_LINES = 450  # the main window only lays out (issue 18)
MAX_CORE_TOP_MODULES = 12  # the rest of the core lives in packages


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    """pyproject.toml's contracts: the core never imports Qt, panels never import each other..."""
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_code_is_formatted_and_lint_clean():
    """`ruff format` applied (line length 110, pyproject.toml) and `ruff check` clean: run both on
    the tree before committing."""
    formatted = _run(str(BIN / "ruff"), "format", "--check", ".")
    assert formatted.returncode == 0, "run `ruff format .`:\n" + formatted.stdout[-3000:]
    lint = _run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout[-3000:]


def test_no_module_grows_past_the_limit():
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in (ROOT / "ganstudio").rglob("*.py")
    }
    too_big = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_big, f"split these modules (at most {MAX_LINES} lines): {too_big}"
    window = sizes["ganstudio/qt/main_window.py"]
    assert window <= MAX_WINDOW_LINES, f"the window lays out only: move the rest out of it ({window} lines)"


def test_the_core_is_arranged_in_packages():
    top = sorted(p.name for p in (ROOT / "ganstudio" / "core").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_CORE_TOP_MODULES, f"put these in core's packages: {top}"


def test_no_function_is_too_complex():
    result = _run(
        str(BIN / "ruff"),
        "check",
        "--select",
        "C901",
        "--config",
        f"lint.mccabe.max-complexity={MAX_COMPLEXITY}",
        "--output-format",
        "json",
        "ganstudio",
    )
    found = [
        f"{Path(f['filename']).relative_to(ROOT)}:{f['location']['row']} {f['message']}"
        for f in json.loads(result.stdout or "[]")
    ]
    assert not found, "split these functions:\n" + "\n".join(found)
