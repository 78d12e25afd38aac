"""Seed groups and baselines (ganstudio.core.run.groups): which runs are replicates, a group's
mean and band at the steps all its runs logged, and deltas against a baseline run. The groups are
made of three tiny real runs (seeds 1, 2, 3) written by the core's RunDriver."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.core.run import groups
from ganstudio.core.run import listing as runs
from ganstudio.core.run.events import Stats
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.history import History
from ganstudio.core.run.log import read_run
from tests.core.conftest import make_tiny_config

SEEDS = (1, 2, 3)


def train(out, seed: int, **values) -> RunFolder:
    from ganstudio.core.run.driver import RunDriver

    cfg = make_tiny_config(
        values={"train.seed": seed, "metrics.every": 6, "metrics.samples": 50, **values}, steps=6, every=2
    )
    driver = RunDriver(cfg, out=out, steer=False)
    driver.prepare()
    for _ in driver.events():
        pass
    driver.close()
    return driver.folder


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory):
    """Three runs of one config with seeds 1, 2, 3, and one with another learning rate (seed 1)."""
    out = tmp_path_factory.mktemp("groups") / "runs"
    for seed in SEEDS:
        train(out, seed)
    train(out, 1, **{"optim.lr_g": 1e-3, "log.name": "other-lr"})
    return out


def _scan(out) -> list[runs.RunInfo]:
    return runs.RunScanner().scan([out])


def test_runs_apart_only_in_their_seed_group_together(seeds_dir):
    found = _scan(seeds_dir)
    assert all(r.config is not None for r in found)
    found_groups, rest = groups.group_runs(found)
    assert len(found_groups) == 1 and [r.name for r in rest] == ["other-lr"]
    group = found_groups[0]
    assert [r.config["train"]["seed"] for r in group.runs] == list(SEEDS)  # in start order
    assert group.varies() == "train.seed 1, 2, 3"
    name, values = group.metric()
    assert name == "fd" and len(values) == 3
    assert group.metric_text().startswith(f"fd {np.mean(values):.3g} ± ")
    # Ignoring the learning rate too, the fourth run joins them; log.name never keeps runs apart.
    (wide,), rest = groups.group_runs(found, ("train.seed", "optim.lr_g"))
    assert len(wide.runs) == 4 and rest == []
    # The tree: the group's row where its first run was, its runs under it.
    order = groups.grouped_tree(runs.tree(found), found_groups)
    assert [(d, type(x).__name__) for d, x in order] == [
        (0, "RunGroup"),
        (1, "RunInfo"),
        (1, "RunInfo"),
        (1, "RunInfo"),
        (0, "RunInfo"),
    ]


def test_runs_without_a_config_or_that_are_forks_never_group(seeds_dir):
    import dataclasses

    info = _scan(seeds_dir)[0]
    assert groups.group_key(info) is not None
    assert groups.group_key(dataclasses.replace(info, config=None)) is None  # an imported run
    assert groups.group_key(dataclasses.replace(info, parent={"run": "/x", "step": 2})) is None
    assert groups.group_key(dataclasses.replace(info, arch=runs.OWN_LOOP)) is None


def test_group_keys_are_checked_against_the_key_table():
    assert groups.parse_keys(" train.seed, optim.lr_g ,") == ("train.seed", "optim.lr_g")
    with pytest.raises(
        groups.GroupKeysError, match=r"unknown key 'train\.sed' \(did you mean 'train\.seed'\?\)"
    ):
        groups.parse_keys("train.sed")
    with pytest.raises(groups.GroupKeysError, match="no keys given"):
        groups.parse_keys(" , ")


def test_a_groups_mean_and_band_are_taken_at_the_steps_all_its_runs_logged(seeds_dir):
    found, _ = groups.group_runs(_scan(seeds_dir))
    histories = [read_run(RunFolder(r.path)).history for r in found[0].runs]
    assert all(h.steps().tolist() == [2, 4, 6] for h in histories)
    stack = np.stack([h.series("loss_d") for h in histories])
    assert not np.allclose(stack[0], stack[1])  # the seeds did change something

    band = groups.group_band(histories, groups.MINMAX)
    assert band.runs == 3 and band.mean.steps().tolist() == [2, 4, 6]
    np.testing.assert_allclose(band.mean.series("loss_d"), stack.mean(axis=0))
    np.testing.assert_allclose(band.lo.series("loss_d"), stack.min(axis=0))
    np.testing.assert_allclose(band.hi.series("loss_d"), stack.max(axis=0))
    sd = groups.group_band(histories, groups.STD)
    np.testing.assert_allclose(sd.hi.series("loss_d") - sd.mean.series("loss_d"), stack.std(axis=0, ddof=1))
    # The metric, evaluated at step 6 in each run, is averaged there; other steps lack it.
    fd = np.array([h.series("fd")[-1] for h in histories])
    assert np.isnan(band.mean.series("fd")[:2]).all()
    assert band.mean.series("fd")[-1] == pytest.approx(fd.mean())

    # A run that is behind (logged up to step 4 only): the mean stops there, nothing is invented.
    behind = History()
    for step in (2, 4):
        i = int(np.searchsorted(histories[2].steps(), step))
        behind.append(Stats(step, 0.0, 0.0, {"loss_d": float(histories[2].series("loss_d")[i])}))
    short = groups.group_band([histories[0], histories[1], behind])
    assert short.mean.steps().tolist() == [2, 4]
    assert short.mean.keys == ["loss_d"]  # only the keys every run has
    with pytest.raises(ValueError, match="band must be one of"):
        groups.group_band(histories, "iqr")


def _history(points: dict[int, dict[str, float]]) -> History:
    h = History()
    for step, values in points.items():
        h.append(Stats(step, 0.0, float(step), values))
    return h


def test_deltas_against_a_baseline_are_taken_at_the_steps_both_logged():
    run = _history(
        {
            2: {"loss_d": 1.0, "fd": 5.0, "fd_std": 0.5, "only_run": 1.0},
            4: {"loss_d": 3.0},
            6: {"loss_d": 2.0, "fd": 4.0, "fd_std": 0.25},
        }
    )
    baseline = _history({2: {"loss_d": 0.5, "fd": 6.0, "fd_std": 0.1}, 6: {"loss_d": 2.5, "fd": 4.5}})
    delta = groups.delta_history(run, baseline)
    assert delta.steps().tolist() == [2, 6]  # step 4: the baseline lacks it, so it is skipped
    np.testing.assert_allclose(delta.series("loss_d"), [0.5, -0.5])
    np.testing.assert_allclose(delta.series("fd"), [-1.0, -0.5])
    np.testing.assert_allclose(delta.series("fd_std"), [0.5, 0.25])  # the run's own uncertainty
    assert not delta.has("only_run")  # nothing to subtract
    np.testing.assert_allclose(delta.walls(), [2.0, 6.0])
    # The baseline against itself is zero everywhere.
    assert not groups.delta_history(baseline, baseline).series("loss_d").any()


def test_the_runs_dock_delta_column_is_the_latest_main_metric_minus_the_baselines(seeds_dir):
    found = {r.path: r for r in _scan(seeds_dir)}
    a, b, *_ = sorted(found.values(), key=lambda r: r.created or 0.0)
    d = groups.metric_delta(a, b)
    assert d == pytest.approx(a.metric[1] - b.metric[1])
    assert groups.metric_delta_text(a, b) == f"{d:+.3g}"
    assert groups.metric_delta_text(b, b) == "baseline"
    assert groups.metric_delta_text(a, None) == ""
    import dataclasses

    assert groups.metric_delta(dataclasses.replace(a, metric=("modes_covered", 3.0)), b) is None


def test_copies_of_one_run_seed_and_all_are_not_a_group(seeds_dir):
    import dataclasses

    one = _scan(seeds_dir)[0]
    twin = dataclasses.replace(one, path=one.path.with_name(one.path.name + "-copy"))
    assert groups.group_runs([one, twin]) == ([], [one, twin])
    (group,), _ = groups.group_runs([one, twin, *_scan(seeds_dir)[1:3]])
    assert len(group.runs) == 4  # with the other seeds: replicates again


def test_a_band_of_only_some_keys_is_the_same_as_of_all():
    histories = [
        _history({s: {"loss_d": s * (1 + r), "loss_g": -s * r, "fd": r, "fd_std": 0.1} for s in (2, 4, 6)})
        for r in range(3)
    ]
    whole = groups.group_band(histories)
    some = groups.group_band(histories, only={"fd", "fd_std", "not_logged"})
    assert some.mean.keys == ["fd", "fd_std"] and some.mean.steps().tolist() == [2, 4, 6]
    for part in ("mean", "lo", "hi"):
        for key in some.mean.keys:
            np.testing.assert_array_equal(getattr(some, part).series(key), getattr(whole, part).series(key))
