"""Worker and start_worker on a tiny trainer: batching, order, failures, thread lifetime."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QObject

from ganstudio.core.config import ConfigError
from ganstudio.core.run.control import Control
from ganstudio.core.run.events import Failed, Finished, RunStarted, Stats
from ganstudio.core.train.trainer import Trainer
from ganstudio.qt.session import RUNNING, STOPPED, Session
from ganstudio.qt.worker import THREADS, Worker, start_worker
from tests.qt.conftest import LONG_RUN, WAIT_MS, tiny_config


def TrainingWorker(build, control=None, *, run=True, sink=None, expected_errors=tuple):  # noqa: N802
    """A Worker that builds a trainer and, with `run`, trains it (`sink` sees every event on the
    worker thread, as the run folder writer would)."""

    def stream(trainer):
        for ev in trainer.run(control):
            if sink is not None:
                sink(ev)
            yield ev

    return Worker(build, stream if run else None, expected_errors=expected_errors)


class Recorder:
    """Every signal of a worker, in arrival order on the GUI thread."""

    def __init__(self, worker: Worker):
        self.batches: list[list[object]] = []
        self.failed: list[Failed] = []
        self.trainers: list[object] = []
        self.order: list[str] = []
        worker.events.connect(lambda batch: (self.batches.append(batch), self.order.append("events")))
        worker.failed.connect(lambda ev: (self.failed.append(ev), self.order.append("failed")))
        worker.built.connect(lambda t: (self.trainers.append(t), self.order.append("ready")))
        worker.done.connect(lambda: self.order.append("done"))

    @property
    def all(self) -> list[object]:
        return [ev for batch in self.batches for ev in batch]

    @property
    def stats(self) -> list[list[Stats]]:
        """Each batch's stats (batches holding any)."""
        return [
            [ev for ev in b if isinstance(ev, Stats)]
            for b in self.batches
            if any(isinstance(ev, Stats) for ev in b)
        ]

    @property
    def finished(self) -> list[Finished]:
        return [ev for ev in self.all if isinstance(ev, Finished)]

    @property
    def run_failures(self) -> list[Failed]:
        return [ev for ev in self.all if isinstance(ev, Failed)]


@pytest.fixture
def owner(warm):
    """The parent of the worker threads; it outlives each test's threads."""
    return QObject()


def run_worker(qtbot, owner, worker: Worker) -> Recorder:
    """Start `worker` on its own thread and wait until `done` has fired and the thread has quit."""
    rec = Recorder(worker)
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        thread = start_worker(worker, owner)
        assert thread in THREADS
        # A worker that fails at once may already have ended its thread: it quits itself.
        assert thread.isRunning() or thread.isFinished()
    qtbot.waitUntil(lambda: thread.isFinished(), timeout=WAIT_MS)
    assert not thread.isRunning()
    return rec


def test_stats_arrive_batched_and_in_step_order(qtbot, owner, tmp_path):
    steps = 120
    cfg = tiny_config(
        tmp_path, train__steps=steps, log__every=1, log__sample_every=0, log__checkpoint_every=0
    )
    sunk = []
    worker = TrainingWorker(lambda: Trainer(cfg), Control(), sink=sunk.append)
    rec = run_worker(qtbot, owner, worker)

    assert not rec.failed
    all_stats = [ev for batch in rec.stats for ev in batch]
    assert [ev.step for ev in all_stats] == list(range(1, steps + 1))  # every step, in order
    # One signal per BATCH_S at most (plus one for each other event), not per step.
    assert len(rec.batches) < steps / 3, f"{len(rec.batches)} events signals for {steps} steps"
    assert max(len(batch) for batch in rec.stats) > 1
    # The sink saw every event, the GUI its plain-data copies in the same order.
    assert sunk == rec.all
    assert isinstance(rec.all[0], RunStarted)
    assert rec.finished and rec.finished[0].step == steps and rec.finished[0].reason == "completed"
    assert rec.all[-1] is rec.finished[0]
    assert rec.order[0] == "ready"
    assert rec.order[-1] == "done"


def test_build_error_of_bad_input_fails_with_its_message_only(qtbot, owner):
    def build():
        raise ConfigError(["train.batch_size = 9999 is larger than the dataset (1797 samples)"])

    worker = TrainingWorker(build, Control(), expected_errors=lambda: (ConfigError,))
    rec = run_worker(qtbot, owner, worker)
    assert len(rec.failed) == 1
    assert rec.failed[0].step == -1
    assert "train.batch_size = 9999" in rec.failed[0].message
    assert rec.failed[0].traceback == ""  # bad input: the message says it all
    assert rec.order == ["failed", "done"]


def test_unexpected_build_error_carries_a_traceback(qtbot, owner):
    def build():
        raise ValueError("models could not be built")

    worker = TrainingWorker(build, Control(), expected_errors=lambda: (ConfigError,))
    rec = run_worker(qtbot, owner, worker)
    assert rec.failed[0].message == "ValueError: models could not be built"
    assert "Traceback" in rec.failed[0].traceback
    assert rec.trainers == []
    assert rec.order[-1] == "done"


def test_training_error_and_sink_error_still_end_with_done(qtbot, owner, tmp_path):
    cfg = tiny_config(tmp_path, train__steps=10, log__sample_every=0, log__checkpoint_every=0)

    def sink(ev):
        if isinstance(ev, Stats) and ev.step >= 4:
            raise OSError("disk full")

    worker = TrainingWorker(lambda: Trainer(cfg), Control(), sink=sink)
    rec = run_worker(qtbot, owner, worker)
    assert len(rec.failed) == 1
    assert "OSError: disk full" in rec.failed[0].message
    assert "Traceback" in rec.failed[0].traceback
    assert rec.finished == []
    assert rec.order[-1] == "done"


def test_a_training_error_is_an_event_in_the_stream(qtbot, owner, tmp_path):
    cfg = tiny_config(tmp_path, train__steps=10, log__sample_every=0, log__checkpoint_every=0)

    def build():
        t = Trainer(cfg)
        real = t.train_step

        def step():
            if t.step == 3:
                raise RuntimeError("CUDA error: an illegal memory access")
            real()

        t.train_step = step
        return t

    rec = run_worker(qtbot, owner, TrainingWorker(build, Control()))
    assert rec.failed == []  # not a build failure
    (failure,) = rec.run_failures
    assert failure.step == 3 and "illegal memory access" in failure.message
    assert "Traceback" in failure.traceback


def test_build_only_reports_the_trainer_and_trains_nothing(qtbot, owner, tmp_path):
    cfg = tiny_config(tmp_path, train__steps=10)
    worker = TrainingWorker(lambda: Trainer(cfg), Control(), run=False)
    rec = run_worker(qtbot, owner, worker)
    assert len(rec.trainers) == 1 and rec.trainers[0].step == 0
    assert rec.order == ["ready", "done"]


def test_stop_ends_a_long_run_and_the_thread(qtbot, owner, tmp_path):
    cfg = tiny_config(
        tmp_path, train__steps=1_000_000, log__every=1, log__sample_every=0, log__checkpoint_every=0
    )
    control = Control()
    worker = TrainingWorker(lambda: Trainer(cfg), control)
    rec = Recorder(worker)
    thread = start_worker(worker, owner)
    qtbot.waitUntil(lambda: sum(len(b) for b in rec.stats) >= 5, timeout=WAIT_MS)
    with qtbot.waitSignal(worker.done, timeout=WAIT_MS):
        control.stop()
    qtbot.waitUntil(lambda: thread.isFinished(), timeout=WAIT_MS)
    assert rec.finished[0].reason == "stopped"
    assert rec.finished[0].step == [ev for b in rec.stats for ev in b][-1].step


def test_thread_quits_without_the_gui_event_loop(qtbot, owner, tmp_path):
    """`done` quits the thread from the worker thread itself: a GUI thread blocked in wait() sees
    it end, and the worker's queued signals still arrive, in order, once the loop runs again."""
    cfg = tiny_config(tmp_path, train__steps=10)
    worker = TrainingWorker(lambda: Trainer(cfg), Control(), run=False)
    rec = Recorder(worker)
    thread = start_worker(worker, owner)
    assert thread.wait(WAIT_MS)  # no event loop runs on this thread meanwhile
    assert thread.isFinished()
    qtbot.waitUntil(lambda: rec.order[-1:] == ["done"], timeout=WAIT_MS)
    assert rec.order == ["ready", "done"]


def test_on_finished_is_called_even_when_the_thread_ends_before_start_worker_returns(qtbot, owner):
    """A build that fails at once can end the thread before start_worker returns (the worker quits
    its own thread); `on_finished` is connected before the start, so it still runs, on this
    thread, once the event loop does."""

    def build():
        raise ConfigError(["data.dataset = 'nope' is not a dataset"])

    calls = []
    worker = TrainingWorker(build, Control(), expected_errors=lambda: (ConfigError,))
    thread = start_worker(worker, owner, on_finished=lambda: calls.append(thread.isFinished()))
    assert thread.wait(WAIT_MS)
    qtbot.waitUntil(lambda: calls == [True], timeout=WAIT_MS)


def test_session_wait_after_stop_returns_without_the_event_loop(qtbot, owner, tmp_path):
    cfg = tiny_config(tmp_path, train__steps=LONG_RUN, log__sample_every=0, log__checkpoint_every=0)
    session = Session(cfg, owner)
    session.start()
    qtbot.waitUntil(lambda: session.state == RUNNING and len(session.history) > 0, timeout=WAIT_MS)
    session.stop()
    # Blocks the GUI thread: before the quit was direct, this returned False after WAIT_MS.
    assert session.wait(WAIT_MS)
    # The session learns of it from its queued signals, as before.
    qtbot.waitUntil(lambda: not session.busy, timeout=WAIT_MS)
    assert session.state == STOPPED
    assert 0 < session.trainer.step < LONG_RUN


def test_a_polls_events_go_out_at_once_not_held_for_the_next_poll(qtbot, owner):
    """A followed folder's poll read two stats lines; the writer then goes quiet. Both are drawn
    now: the second used to wait (for the batch) until the next poll found something."""
    import threading

    from ganstudio.qt.worker import poll_stream

    stop, polls = threading.Event(), []

    def poll():
        polls.append(1)
        return (
            [Stats(step=1, epoch=0.0, wall=0.0, values={}), Stats(2, 0.0, 0.0, {})] if len(polls) == 1 else []
        )

    worker = Worker(lambda: None, lambda _: poll_stream(poll, stop, 0.01))
    rec = Recorder(worker)
    start_worker(worker, owner)
    try:
        qtbot.waitUntil(lambda: [ev.step for ev in rec.all] == [1, 2], timeout=WAIT_MS)
        assert len(polls) >= 1
    finally:
        stop.set()
        qtbot.waitUntil(lambda: "done" in rec.order, timeout=WAIT_MS)
