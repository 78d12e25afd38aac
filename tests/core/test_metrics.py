"""ganstudio.core.metrics: the metric definitions, the classifier and its cache, the evaluator, and
the trainer's background evaluation (Metrics events, history, run log, exact resume)."""

from __future__ import annotations

import gc
import math
import threading
import time
import warnings
import weakref

import numpy as np
import pytest
import torch

from ganstudio.core import models
from ganstudio.core.checkpoint import io as checkpoints
from ganstudio.core.config import DataConfig, presets, validate, with_values
from ganstudio.core.data import Dataset
from ganstudio.core.metrics import Evaluator, summary
from ganstudio.core.metrics import classifier as clf
from ganstudio.core.metrics.background import BackgroundEvaluator, cpu_generator
from ganstudio.core.metrics.distances import (
    FrechetReference,
    ManifoldMetrics,
    Neighbours,
    frechet_distance,
    gaussian_stats,
    mean_pairwise_distance,
)
from ganstudio.core.metrics.registry import class_coverage
from ganstudio.core.run.events import Alert, CheckpointSaved, Finished, Metrics, Stats
from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.history import History
from ganstudio.core.run.log import RunWriter, read_metrics
from ganstudio.core.train.trainer import Trainer
from tests.core.conftest import dataset_for, make_tiny_config, of_type, run_all


@pytest.fixture(scope="module", autouse=True)
def _cache_dir_and_threads(tmp_path_factory):
    """Classifiers go to a per-session folder, never to the user's ~/.cache; one torch thread, as
    the background evaluator uses (small convolutions on a busy 2-core machine are many times
    slower with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANSTUDIO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ganstudio-cache"))
        yield
    torch.set_num_threads(threads)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- Fréchet distance -------------------------------------------------------------------------------


def _random_cov(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=_gen(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_of_identical_gaussians_is_zero():
    mu, cov = torch.randn(8, generator=_gen(1), dtype=torch.float64), _random_cov(8, 2)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_the_closed_forms():
    # Diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = float(((mu1 - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())  # 5 + 4 + 1
    assert frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(expected, rel=1e-9)
    # Full covariances that do not commute: against scipy's general matrix square root.
    linalg = pytest.importorskip("scipy.linalg")
    c1, c2 = _random_cov(6, 3), _random_cov(6, 4)
    m1, m2 = torch.randn(6, generator=_gen(5), dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    cross = linalg.sqrtm(c1.numpy() @ c2.numpy()).real
    expected = float((m1 - m2) @ (m1 - m2) + c1.trace() + c2.trace() - 2 * np.trace(cross))
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(expected, rel=1e-7)


def test_frechet_distance_is_finite_for_singular_covariances():
    low_rank = torch.randn(50, 2, generator=_gen(6), dtype=torch.float64) @ torch.randn(
        2, 10, generator=_gen(7), dtype=torch.float64
    )
    mu, cov = gaussian_stats(low_rank)
    fd = FrechetReference(mu, cov).distance(torch.zeros(10), torch.zeros(10, 10))
    assert math.isfinite(fd) and fd == pytest.approx(float(mu @ mu + cov.trace()), rel=1e-9)


def test_frechet_distance_of_samples_sees_a_shift():
    real = torch.randn(4000, 4, generator=_gen(8))
    same = torch.randn(4000, 4, generator=_gen(9))
    ref = FrechetReference.of(real)
    assert ref.distance(*gaussian_stats(same)) < 0.02
    assert ref.distance(*gaussian_stats(same + torch.tensor([2.0, 0, 0, 0]))) == pytest.approx(4.0, abs=0.1)


# --- precision / recall / density / coverage ----------------------------------------------------------


def test_manifold_metrics_on_synthetic_features():
    real = torch.randn(1000, 2, generator=_gen(10))
    same = ManifoldMetrics(real, torch.randn(1000, 2, generator=_gen(11))).values()
    for key in ("precision", "recall", "coverage"):
        assert same[key] > 0.93, same
    assert same["density"] == pytest.approx(1.0, abs=0.1)

    disjoint = ManifoldMetrics(real, torch.randn(1000, 2, generator=_gen(12)) + 50).values()
    assert disjoint == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}

    # Every generated point next to one real point: precise, but recalls and covers almost nothing.
    collapsed = ManifoldMetrics(real, real[:1] + 0.001 * torch.randn(1000, 2, generator=_gen(13))).values()
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.01 and collapsed["coverage"] < 0.01


def test_density_and_coverage_follow_the_reference_on_ties():
    """Memorised samples: 12 evenly spaced real points (1-D) and the very same 12 as generated.

    By hand, k = 5: the end points' 5th neighbours are 5 and 4 away, the others' 3 (interior, and
    the points next to the ends: 1, 1, 2, 2, 3). Strictly inside each real ball (distance < radius)
    lie exactly 5 generated points, so density = 12 * 5 / (12 * 5) = 1.0, as Naeem et al.'s code
    gives; counting the boundary (<=) would give 78 / 60 = 1.3."""
    real = torch.arange(12, dtype=torch.float64)[:, None]
    v = ManifoldMetrics(real, real.clone()).values()
    assert v["density"] == 1.0 and v["coverage"] == 1.0
    assert v["precision"] == 1.0 and v["recall"] == 1.0


def _prdc_reference(real: np.ndarray, fake: np.ndarray, k: int, pr_k: int) -> dict[str, float]:
    """A transcription of clovaai/generative-evaluation-prdc's compute_prdc (numpy). Its own
    precision/recall use `<` as well; here they use Kynkäänniemi et al.'s `<=`, as this project does."""

    def kth_neighbour(x: np.ndarray, n: int) -> np.ndarray:
        d = np.linalg.norm(x[:, None] - x[None, :], axis=-1)
        return np.sort(d, axis=1)[:, n]  # column 0 is the point itself (distance 0)

    d_rf = np.linalg.norm(real[:, None] - fake[None, :], axis=-1)
    r_real, r_fake = kth_neighbour(real, k), kth_neighbour(fake, pr_k)
    pr_real = kth_neighbour(real, pr_k)
    return {
        "precision": float((d_rf <= pr_real[:, None]).any(axis=0).mean()),
        "recall": float((d_rf <= r_fake[None, :]).any(axis=1).mean()),
        "density": float((1.0 / k) * (d_rf < r_real[:, None]).sum(axis=0).mean()),
        "coverage": float((d_rf.min(axis=1) < r_real).mean()),
    }


def test_manifold_metrics_match_the_reference_formulas_with_ties():
    # Points on a small integer grid, with repeats: distances tie everywhere, as with memorised data.
    real = torch.randint(0, 12, (300, 2), generator=_gen(16)).double()
    fake = torch.cat([real[:100], torch.randint(0, 12, (150, 2), generator=_gen(17)).double()])
    got = ManifoldMetrics(real, fake).values()
    want = _prdc_reference(real.numpy(), fake.numpy(), k=5, pr_k=3)
    assert got == pytest.approx(want, abs=1e-12)
    # The set is one where `<` and `<=` disagree, so this test tells them apart.
    d_rf = torch.cdist(real, fake)
    r_real = torch.cdist(real, real).sort(dim=1).values[:, 5]
    assert float((d_rf <= r_real[:, None]).sum(0).double().mean() / 5) > want["density"] + 0.05


def _resample_rows(x: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    return x.repeat_interleave(counts.long(), dim=0)


def test_resample_counts_match_the_resampled_set():
    """The bootstrap's `counts` shortcut equals computing on the resampled set itself (copies of a
    point are not each other's neighbours)."""
    x = torch.randn(60, 3, generator=_gen(14), dtype=torch.float64)
    counts = torch.bincount(torch.randint(60, (60,), generator=_gen(15)), minlength=60).double()
    rows = _resample_rows(x, counts)
    mu, cov = gaussian_stats(x, counts)
    assert torch.allclose(mu, rows.mean(0)) and torch.allclose(cov, torch.cov(rows.T))
    # Mean distance between copies of different points.
    origin = _resample_rows(torch.arange(60), counts)
    d = torch.cdist(rows, rows)
    distinct = origin[:, None] != origin[None, :]
    assert mean_pairwise_distance(torch.cdist(x, x), counts) == pytest.approx(float(d[distinct].mean()))
    # k-th neighbour radii, counting other points' copies.
    masked = d.masked_fill(~distinct, math.inf)
    expected = masked.kthvalue(3, dim=1).values
    got = Neighbours(torch.cdist(x, x)).radii(3, counts)[origin]
    assert torch.allclose(got, expected)


# --- class coverage ----------------------------------------------------------------------------------


def test_class_coverage_on_known_histograms():
    uniform = class_coverage(torch.full((10,), 100))
    assert uniform["classes_covered"] == 10 and uniform["class_kl"] == pytest.approx(0.0, abs=1e-12)
    one = class_coverage(torch.tensor([1000] + [0] * 9))
    assert one["classes_covered"] == 1 and one["class_kl"] == pytest.approx(math.log(10))
    two = class_coverage(torch.tensor([500, 500] + [0] * 8))
    assert two["classes_covered"] == 2 and two["class_kl"] == pytest.approx(math.log(5))
    # A class needs a tenth of its fair share (here 100 of 1,000): one stray sample is not coverage.
    stray = class_coverage(torch.tensor([991, 9] + [0] * 8))
    assert stray["classes_covered"] == 1


# --- the 2D toys -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ring8() -> Dataset:
    return dataset_for(DataConfig(dataset="ring8"))


def _evaluator(data: Dataset, dataset: str = "digits", **kw) -> Evaluator:
    cfg = validate(with_values(make_tiny_config(), {"data.dataset": dataset}))
    return Evaluator(cfg, data, **kw)


def test_ring8_metrics_tell_a_collapsed_generator_from_a_healthy_one(ring8):
    ev = _evaluator(ring8, "ring8")
    healthy = ev.evaluate_samples(ring8.x[-1000:])  # drawn from the real distribution
    assert healthy["modes_covered"] == 8 and healthy["high_quality"] > 0.98
    assert healthy["diversity"] == pytest.approx(1.0, abs=0.05)

    noise = ring8.mode_std * torch.randn(1000, 2, generator=_gen(16))
    one_mode = ev.evaluate_samples(ring8.modes[0] + noise)
    assert one_mode["modes_covered"] == 1 and one_mode["high_quality"] > 0.98
    assert one_mode["diversity"] < 0.05
    two_modes = ev.evaluate_samples(ring8.modes[torch.arange(1000) % 2] + noise)
    assert two_modes["modes_covered"] == 2

    # Spread over the right region but off the modes: few high-quality points.
    blurry = ev.evaluate_samples(3 * torch.rand(1000, 2, generator=_gen(17)) - 1.5)
    assert blurry["high_quality"] < 0.1

    assert set(healthy) == {
        "modes_covered",
        "high_quality",
        "diversity",
        "modes_covered_std",
        "high_quality_std",
        "diversity_std",
        "n",
    }
    assert healthy["n"] == 1000 and 0 < healthy["high_quality_std"] < 0.01
    # Within 3 std of a 2D Gaussian's centre: 1 - exp(-9/2) = 98.9% of its points.
    assert summary(healthy, modes=8) == "modes 8/8, hq 0.99 div 1.00"


def test_evaluate_runs_the_generator_in_eval_mode_and_refuses_nan(ring8):
    ev = _evaluator(ring8, "ring8")
    g = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.BatchNorm1d(2)).train()
    ev.evaluate(g, torch.randn(100, 4, generator=_gen(18)))
    assert g.training and int(g[1].num_batches_tracked) == 0  # eval mode during, restored after
    with pytest.raises(ValueError, match="NaN"):
        ev.evaluate_samples(torch.full((100, 2), math.nan))


# --- images ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return dataset_for(DataConfig())


@pytest.fixture(scope="module")
def digits_classifier(digits, tmp_path_factory):
    """The digits classifier, trained once for this module in its own cache folder."""
    folder = tmp_path_factory.mktemp("classifier-cache")
    clf.clear_memory_cache()
    t0 = time.perf_counter()
    model, info = clf.load_or_train("digits", digits.x, digits.labels, 10, cache_dir=folder)
    return model, info, time.perf_counter() - t0, folder


def test_digits_classifier_is_accurate_and_cached(digits, digits_classifier):
    model, info, first_s, folder = digits_classifier
    assert info["source"] == "trained" and info["val_accuracy"] > 0.9, info
    # Training takes ~4 s on an idle 2-core machine (no bound here: a busy one can take ten times
    # that); loading must be much faster whatever the load.
    assert info["cache"] and (folder / info["cache"].rsplit("/", 1)[-1]).exists()

    clf.clear_memory_cache()
    t0 = time.perf_counter()
    again, info2 = clf.load_or_train("digits", digits.x, digits.labels, 10, cache_dir=folder)
    assert info2["source"] == "disk" and time.perf_counter() - t0 < first_s / 2
    assert info2["val_accuracy"] == info["val_accuracy"]
    feats, logits = clf.predict(model, digits.x[:300])
    feats2, logits2 = clf.predict(again, digits.x[:300])
    assert torch.equal(logits, logits2) and torch.equal(feats, feats2)
    _, info3 = clf.load_or_train("digits", digits.x, digits.labels, 10, cache_dir=folder)
    assert info3["source"] == "memory"


def test_classifier_lives_in_memory_when_the_cache_cannot_be_written(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(clf, "MIN_STEPS", 5)
    monkeypatch.setattr(clf, "MAX_STEPS", 5)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    x, labels = digits.x[:200], digits.labels[:200]  # another key than the full set's
    _, info = clf.load_or_train("digits", x, labels, 10, cache_dir=blocked / "cache")
    assert info["source"] == "trained" and info["cache"] == ""
    _, info = clf.load_or_train("digits", x, labels, 10, cache_dir=blocked / "cache")
    assert info["source"] == "memory"


def test_a_stale_or_foreign_cache_file_is_retrained(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(clf, "MIN_STEPS", 5)
    monkeypatch.setattr(clf, "MAX_STEPS", 5)
    x, labels = digits.x[:300], digits.labels[:300]
    key = clf.cache_key("digits", x, labels)
    (tmp_path / f"{key}.pt").write_bytes(b"garbage")
    clf.clear_memory_cache()
    _, info = clf.load_or_train("digits", x, labels, 10, cache_dir=tmp_path)
    assert info["source"] == "trained" and info["cache"]


def test_digits_metrics_tell_real_from_collapsed(digits, digits_classifier):
    model, info, _, folder = digits_classifier
    ev = _evaluator(digits, cache_dir=folder)
    real = ev.evaluate_samples(digits.x[-800:])
    assert ev.feature_space == "classifier" and ev.classifier_info["source"] in ("memory", "disk")
    assert real["classes_covered"] == 10 and real["class_kl"] < 0.05
    assert real["precision"] > 0.6 and real["recall"] > 0.6 and real["coverage"] > 0.8
    assert 0 < real["fd_std"] < real["fd"] < 20  # the reference set is another 800 of the 1,797

    fours = digits.x[digits.labels == 4]
    collapsed = ev.evaluate_samples(fours[torch.arange(800) % 10])  # ten images of one digit
    assert collapsed["classes_covered"] <= 2 and collapsed["class_kl"] > 1.8
    assert collapsed["fd"] > 10 * real["fd"] and collapsed["recall"] < 0.2
    assert collapsed["coverage"] < 0.1 and collapsed["diversity"] < 0.8 * real["diversity"]
    line = summary(collapsed, classes=10)
    assert line.startswith("classes ") and "/10 KL" in line and " FD " in line and " P " in line

    # Noise is not digits: the classifier spreads it over classes with low confidence, and an
    # untrained generator must not be reported as covering every class.
    noise = torch.rand(800, *digits.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    unsure = ev.evaluate_samples(noise)
    assert unsure["classes_covered"] < 10 and unsure["recognised"] < 0.5
    assert real["recognised"] > 0.9


def test_unlabelled_images_use_a_random_projection(digits):
    folder = Dataset(x=digits.x)  # as an image folder loads: no labels
    ev = _evaluator(folder, "folder")
    real = ev.evaluate_samples(digits.x[-600:])
    assert ev.feature_space == "rp16" and ev.classifier is None
    assert "classes_covered" not in real and {"fd", "precision", "recall", "density", "coverage"} <= set(real)
    noise = ev.evaluate_samples(torch.rand(600, 1, 8, 8, generator=_gen(19)) * 2 - 1)
    assert noise["fd"] > 5 * real["fd"] and noise["precision"] < 0.2 < real["precision"]


def test_metrics_leave_the_global_random_state_alone(digits, digits_classifier, ring8, monkeypatch):
    monkeypatch.setattr(clf, "MIN_STEPS", 5)
    monkeypatch.setattr(clf, "MAX_STEPS", 5)
    torch.manual_seed(123)
    before, np_before = torch.get_rng_state(), np.random.get_state()[1].copy()
    _evaluator(digits, cache_dir=digits_classifier[3]).evaluate_samples(digits.x[:200])
    _evaluator(ring8, "ring8").evaluate_samples(ring8.x[:200])
    clf.train_classifier(digits.x[:100], digits.labels[:100], 10)
    assert torch.equal(before, torch.get_rng_state()) and np.array_equal(np_before, np.random.get_state()[1])


# --- history ---------------------------------------------------------------------------------------


def test_history_merge_adds_values_at_their_step():
    h = History(capacity=2)
    for step in (10, 20, 30):
        h.append(Stats(step=step, epoch=step / 100, wall=step / 10, values={"loss_d": float(step)}))
    h.merge(20, {"fd": 5.0})  # onto the point of that step
    assert h.steps().tolist() == [10, 20, 30] and np.isnan(h.series("fd")).tolist() == [True, False, True]
    revision = h.revision
    h.merge(25, {"fd": 4.0})  # no such point: inserted in step order
    assert h.steps().tolist() == [10, 20, 25, 30] and h.revision == revision + 1
    assert h.series("fd")[2] == 4.0 and np.isnan(h.series("loss_d")[2]) and h.walls()[2] == 2.0
    assert h.series("loss_d").tolist()[3] == 30.0
    h.merge(40, {"fd": 3.0})  # after the last point: appended
    assert h.steps().tolist()[-1] == 40 and h.last("fd") == 3.0
    restored = History.from_state_dict(h.state_dict())
    assert restored.series("fd")[4] == 3.0


# --- background evaluation in a run ----------------------------------------------------------------


def _metrics_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ganstudio-metrics"]


def _ring_cfg(**values):
    base = {"metrics.every": 4, "metrics.samples": 200}
    return make_tiny_config("ring8", {**base, **values}, steps=16, every=2, checkpoint_every=8)


def test_background_metrics_arrive_as_events_and_in_history(tmp_path, ring8):
    cfg = _ring_cfg()
    t = Trainer(cfg, dataset=ring8, checkpoint_dir=tmp_path / "checkpoints")
    with RunWriter(RunFolder(tmp_path), cfg) as log:
        events = []
        for ev in t.run():
            log.handle(ev)
            events.append(ev)
    assert events[-1] == Finished(step=16, reason="completed")
    metrics = of_type(events, Metrics)
    steps = [m.step for m in metrics]
    assert steps and steps == sorted(steps) and steps[-1] == 16 and all(s % 4 == 0 for s in steps)
    # The last step's metrics come before its checkpoint, so the checkpoint's history has them.
    assert isinstance(events[-2], CheckpointSaved) and events[-2].step == 16
    assert events.index(metrics[-1]) < len(events) - 2
    for m in metrics:
        assert {"modes_covered", "high_quality", "diversity", "n"} <= set(m.values) and m.values["n"] == 200
        i = t.history.steps().tolist().index(m.step)
        assert t.history.series("modes_covered")[i] == m.values["modes_covered"]
    latest = checkpoints.load(tmp_path / "checkpoints" / "latest.pt")
    assert latest["history"]["values"]["modes_covered"][-1] == metrics[-1].values["modes_covered"]
    lines = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["event"] == "metrics"]
    assert [r["step"] for r in lines] == steps
    assert lines[-1]["high_quality"] == metrics[-1].values["high_quality"]
    assert not _metrics_threads()


def test_exact_resume_holds_with_metrics_on(tmp_path, ring8):
    """Straight and resumed runs, both evaluating in the background, end with the same weights and
    random states, and the same as a run without metrics."""
    straight = Trainer(_ring_cfg(), dataset=ring8, checkpoint_dir=tmp_path / "a")
    assert of_type(run_all(straight), Metrics)
    a = straight.state_dict()  # now: it holds torch's global random state, which any Trainer resets
    resumed = Trainer.from_checkpoint(tmp_path / "a" / "step-000000008.pt", dataset=ring8)
    assert resumed.step == 8
    events = run_all(resumed)
    assert [m.step for m in of_type(events, Metrics)][-1] == 16
    b = resumed.state_dict()
    plain = Trainer(_ring_cfg(**{"metrics.every": 0}), dataset=ring8)
    assert not of_type(run_all(plain), Metrics)
    c = plain.state_dict()
    for other in (b, c):
        for part in ("G", "D"):
            for k, v in a["models"][part].items():
                assert torch.equal(v, other["models"][part][k]), (part, k)
        assert torch.equal(a["rng"]["torch"], other["rng"]["torch"])
        assert torch.equal(a["rng"]["noise"], other["rng"]["noise"])
        assert torch.equal(a["sampler"]["generator"], other["sampler"]["generator"])
    assert not _metrics_threads()


def test_stopping_abandons_pending_metrics(ring8):
    from ganstudio.core.run.control import Control

    cfg = _ring_cfg(**{"metrics.every": 2, "metrics.samples": 2000}, **{"train.steps": 1000})
    t = Trainer(cfg, dataset=ring8)
    control = Control()
    t0 = time.perf_counter()
    events = []
    for ev in t.run(control):
        events.append(ev)
        if isinstance(ev, Stats) and ev.step == 10:
            control.stop()
    assert events[-1].reason == "stopped" and time.perf_counter() - t0 < 20
    assert not _metrics_threads()


def test_a_failing_evaluation_is_an_alert_not_a_crash(ring8, monkeypatch):
    def broken(self, generator, noise, should_stop=None):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Evaluator, "evaluate", broken)
    events = run_all(Trainer(_ring_cfg(**{"metrics.every": 8}), dataset=ring8))
    alerts = [a for a in of_type(events, Alert) if a.kind == "metrics"]
    assert alerts and "out of memory" in alerts[0].message and alerts[0].step % 8 == 0
    assert events[-1] == Finished(step=16, reason="completed")


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance on torch.distributed's deprecated reduce_op warns
        warnings.simplefilter("ignore", FutureWarning)
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_repeated_evaluations_keep_no_tensors_alive(digits, digits_classifier):
    """The metrics thread evaluates every few hundred steps for hours: what one evaluation builds
    (distance matrices, features, resample buffers) must be freed when it returns."""
    ev = _evaluator(digits, cache_dir=digits_classifier[3])
    fake = digits.x[:300]
    ev.evaluate_samples(fake)  # the classifier and the reference set's cache are built once
    before = _live_tensors()
    for _ in range(3):
        ev.evaluate_samples(fake)
    assert _live_tensors() == before


def test_the_metrics_thread_drops_the_weights_it_was_given(ring8):
    """After an evaluation the thread holds no reference to the submitted state_dict (its own
    generator has a copy of the weights): a second copy would stay alive until the next request."""
    cfg = _ring_cfg()
    evaluator = BackgroundEvaluator(Evaluator(cfg, ring8), lambda: cpu_generator(cfg, ring8.shape))
    try:
        with torch.random.fork_rng():
            g, _ = models.build(cfg, ring8.shape)
        state = {k: v.detach().clone() for k, v in g.state_dict().items()}
        alive = [weakref.ref(v) for v in state.values()]
        evaluator.submit(4, state, torch.randn(200, cfg.model.latent_dim, generator=_gen(3)))
        del state
        assert evaluator.wait_idle(60)
        (result,) = evaluator.poll()
        assert result.values is not None and result.step == 4
        gc.collect()
        assert not [r for r in alive if r() is not None]
    finally:
        evaluator.close()


def test_cli_prints_metrics_lines(tmp_path, capsys):
    from ganstudio.cli import main

    code = main(
        [
            "train",
            "--preset",
            "ring8",
            "--steps",
            "20",
            "--out",
            str(tmp_path),
            "--set",
            "metrics.every=10",
            "--set",
            "metrics.samples=100",
            "--set",
            "train.threads=1",
            "--set",
            "train.device=cpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert "metrics @ step 20: modes " in err and "/8, hq " in err, err


# --- the ring8 preset --------------------------------------------------------------------------------


def test_ring8_preset_covers_the_ring(ring8):
    """The ring8 preset (WGAN-GP, 5 critic steps, an EMA of G) on a CPU covers all 8 modes within
    1,000 steps, whatever the CPU: on an AVX512 Xeon, with MKL's default, AVX2 and SSE4.2 code paths,
    seeds 0-2 covered all 8 by step 500 (the former recipe covered 0-2 there; see the preset).

    The contrast is ring8-minimax, which settles on a few modes (next test).
    """
    cfg = validate(
        with_values(
            presets.get("ring8"),
            {
                "train.device": "cpu",
                "train.threads": 1,
                "log.sample_every": 0,
                "log.checkpoint_every": 0,
                "train.steps": 1000,
                "metrics.every": 250,
            },
        )
    )
    t = Trainer(cfg, dataset=ring8)
    metrics = of_type(run_all(t), Metrics)
    assert metrics[-1].step == cfg.train.steps
    last = metrics[-1].values
    assert last["modes_covered"] == 8, last
    assert last["high_quality"] > 0.1, last


def test_ring8_minimax_preset_drops_modes_on_most_seeds():
    """The preset sold as the one that drops modes does so on at least 2 of 3 seeds: at its last
    step G covers at most 4 of the 8 modes (the app's own modes_covered, on metrics.samples points).

    Measured with one thread, modes at step 3,000 for seeds 0-8: 3, 2, 1, 3, 4, 3, 7, 4, 3. With
    the earlier equal learning rates (1e-3) seeds 0-2 ended with 8, 2 and 8."""
    covered = []
    for seed in range(3):
        cfg = validate(
            with_values(
                presets.get("ring8-minimax"),
                {
                    "train.seed": seed,
                    "train.device": "cpu",
                    "train.threads": 1,
                    "metrics.every": 0,
                    "log.sample_every": 0,
                    "log.checkpoint_every": 0,
                },
            )
        )
        data = dataset_for(cfg.data, seed)
        t = Trainer(cfg, dataset=data)
        for _ in range(cfg.train.steps):  # the step loop alone: no events, samples or background metrics
            t.train_step()
        noise = torch.randn(cfg.metrics.samples, cfg.model.latent_dim, generator=_gen(seed))
        values = Evaluator(cfg, data, bootstrap=0).evaluate(t.sampling_generator, noise)
        covered.append(values["modes_covered"])
    assert sum(c <= 4 for c in covered) >= 2, covered
