"""`ganstudio runs` telling runs apart: the folder first, --json, --group and --group-by."""

from __future__ import annotations

import json

import pytest

from ganstudio.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tests.core.test_groups import SEEDS, train


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """Three runs of one config (seeds 1, 2, 3; all named alike) and one with another lr."""
    out = tmp_path_factory.mktemp("runs_cli") / "runs"
    for seed in SEEDS:
        train(out, seed)
    train(out, 1, **{"optim.lr_g": 1e-3})
    return out


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_runs_of_one_config_print_rows_told_apart_by_their_folder(out, capsys):
    assert main(["runs", str(out)]) == EXIT_OK
    header, *rows = _rows(capsys.readouterr().out)
    assert header[:2] == ["folder", "name"]
    folders = [r[0] for r in rows]
    assert len(rows) == 4 and len(set(folders)) == 4
    assert folders == sorted(p.name for p in out.iterdir())
    assert len({r[1] for r in rows}) == 1  # one name for all four: only the folder tells them apart


def test_runs_json_has_each_runs_path_status_steps_config_and_last_metrics(out, capsys):
    assert main(["runs", str(out), "--json"]) == EXIT_OK
    records = json.loads(capsys.readouterr().out)
    assert [r["folder"] for r in records] == sorted(p.name for p in out.iterdir())
    first = records[0]
    assert first["path"] == str(out / first["folder"]) and first["status"] == "finished"
    assert (first["steps"], first["total"]) == (6, 6)
    assert first["config"]["train"]["seed"] == 1 and first["config"]["train"]["steps"] == 6
    assert first["metric"]["name"] == "fd" and first["metrics"]["fd"] == first["metric"]["value"]
    assert "fd_std" in first["metrics"]


def test_a_folder_that_is_not_a_run_has_a_null_config(out, tmp_path, capsys):
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "not-a-run" / "x.txt").write_text("hello")
    assert main(["runs", str(tmp_path), "--json"]) == EXIT_OK
    (record,) = json.loads(capsys.readouterr().out)
    assert record["config"] is None and record["status"] == "not a run" and record["problem"]


def test_runs_group_collapses_seeds_into_one_row(out, capsys):
    assert main(["runs", str(out), "--group"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # the header, the group, the other learning rate
    assert lines[1].startswith("3 runs ") and "fd " in lines[1] and " ± " in lines[1]
    assert "train.seed 1, 2, 3" in lines[1] and "(min " in lines[1]

    assert main(["runs", str(out), "--group", "--json"]) == EXIT_OK
    group, other = json.loads(capsys.readouterr().out)
    assert group["n"] == 3 and [r["config"]["train"]["seed"] for r in group["runs"]] == list(SEEDS)
    values = [r["metric"]["value"] for r in group["runs"]]
    assert group["metric"]["mean"] == pytest.approx(sum(values) / 3)
    assert group["metric"]["min"] == min(values) and group["metric"]["std"] > 0
    assert other["config"]["optim"]["lr_g"] == 1e-3


def test_runs_group_by_picks_the_keys_to_ignore(out, capsys):
    assert main(["runs", str(out), "--group-by", "train.seed,optim.lr_g"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("4 runs ")
    assert "optim.lr_g" in lines[1]
    # Ignoring only the learning rate: the two seed-1 runs group, seeds 2 and 3 stay apart.
    assert main(["runs", str(out), "--group-by", "optim.lr_g"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[1].startswith("2 runs ") and "optim.lr_g 0.0002, 0.001" in lines[1]


def test_runs_group_by_an_unknown_key_says_which_and_the_likely_one(out, capsys):
    assert main(["runs", str(out), "--group-by", "train.sed"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "--group-by" in err and "train.sed" in err and "did you mean 'train.seed'" in err
    assert "Traceback" not in err
