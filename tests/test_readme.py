"""The README documents every config key exactly as the key table (core/config/keys.py) defines it,
and its commands are the ones CI runs."""

from pathlib import Path

from ganstudio.core.config import markdown_key_table

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- keys:start -->", "<!-- keys:end -->"


def update_readme() -> None:
    """Regenerate the key table: python -c 'from tests.test_readme import update_readme; update_readme()'"""
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    path.write_text(f"{head}{START}\n{markdown_key_table()}\n{END}{tail}", encoding="utf-8")


def test_readme_key_table_is_current():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split(START)[1].split(END)[0].strip()
    assert table == markdown_key_table(), "README's config table is stale: run update_readme()"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'
    assert command in readme
    assert command in ci
