"""The training loop, top to bottom (nanoGPT's train.py): `run(trainer, requests, schedule)`.

Between steps the loop waits for something to do and takes what was asked (`requests`: the
protocol of core/run/control.py); it trains one step, then does what `schedule` says is due at that
step (core/train/schedule.py). It yields plain-data events; `Trainer.run` applies each to the run's
state and turns a training error into a Failed event. Nothing here knows torchrun: the trainer's
collective averages what a job averages, and `requests` is the job's agreed control there.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

from ganstudio.core.config import ConfigError, with_values
from ganstudio.core.metrics.converged import CONVERGED, toy_convergence
from ganstudio.core.run.control import PAUSE, REQUEST, RUN, STEP, STOP, Requests, Taken
from ganstudio.core.run.events import Alert, Event, Failed, Finished, Marker, Paused, Resumed, Samples
from ganstudio.core.run.state import COMPLETED
from ganstudio.core.train import compiled, oom
from ganstudio.core.train.schedule import Due, Schedule

if TYPE_CHECKING:
    from ganstudio.core.train.trainer import Trainer

TRAIN, WAIT, END = "train", "wait", "end"  # what a step asked for at train.steps comes to


def run(trainer: Trainer, requests: Requests, schedule: Schedule) -> Iterator[Event]:
    """Train until train.steps (or a stop), between steps honouring `requests`; yields events."""
    yield from start(trainer, schedule)
    was_paused = False
    while trainer.step < trainer.cfg.train.steps or requests.paused:
        action = requests.wait(pause_reported=was_paused)
        if action == PAUSE:
            was_paused = True
            yield Paused(step=trainer.step)
            continue
        yield from take(trainer, requests.take())
        schedule = schedule.for_config(trainer.cfg)  # a live edit may change every interval
        if action == STOP:
            break
        if action == REQUEST:
            continue
        if action == RUN and was_paused:
            was_paused = False
            yield Resumed(step=trainer.step)
        then = _at_the_end(trainer, action, requests)
        if then == END:
            break
        if then == WAIT:
            continue

        t0 = time.perf_counter()
        trainer.train_step()
        trainer.wall += time.perf_counter() - t0

        single = action == STEP
        due = schedule.due(trainer.step, single=single, broken=trainer.broken)
        nan = yield from do_what_is_due(trainer, requests, due)  # why it paused itself, or ""
        if nan or single or (requests.paused and not was_paused):
            was_paused = True
            yield Paused(step=trainer.step, reason=nan)
    yield from finish(trainer, requests)


def start(trainer: Trainer, schedule: Schedule) -> Iterator[Event]:
    """The run (re)starts: where and how it trains, and a new run's first samples (of the
    untrained generator)."""
    yield trainer.started()
    yield from compiled.prepare(trainer)  # train.compile: compiled, or one alert saying why not
    yield from trainer.system.start(trainer.step, trainer.cfg)  # every rank's first system line
    if schedule.samples_at_start(trainer.step):
        yield trainer.samples()


def _at_the_end(trainer: Trainer, action: str, requests: Requests) -> str:
    """Whether the loop trains a step now (TRAIN), waits (WAIT) or ends (END): at train.steps a
    single step asked for extends the run by one step; otherwise a paused run waits and a running
    one ends."""
    if trainer.step < trainer.cfg.train.steps:
        return TRAIN
    if action == STEP:
        trainer.cfg = with_values(trainer.cfg, {"train.steps": trainer.step + 1})
        return TRAIN
    return WAIT if requests.paused else END


def take(trainer: Trainer, taken: Taken) -> Iterator[Event]:
    """What other threads asked for since the last step: events they posted, live edits (one
    refused is an Alert that names the key and why), checkpoints to save (rank 0 writes them)."""
    edits, saves, posted = taken
    yield from posted
    for values in edits:
        try:
            ev = trainer.reconfigure(values)
        except ConfigError as e:
            yield Alert(step=trainer.step, kind="config", message="; ".join(e.problems))
            continue
        if ev is not None:
            yield ev
    for req in saves:
        trainer.reduce_losses()  # a job's checkpoint holds the global stats so far
        if trainer.main:
            yield trainer.try_checkpoint(req.path, manual=req.manual)


def do_what_is_due(trainer: Trainer, requests: Requests, due: Due) -> Generator[Event, None, str]:
    """The step's stats, samples, checkpoint and metrics, as `due` says, in that order. A NaN in the
    stats pauses the run before anything else, and nothing is saved from those weights: returns why
    ("" when it did not pause)."""
    if due.checkpoint:
        trainer.reduce_losses()  # every rank of a job: the same losses, checked alike
    # Before a checkpoint the unreported losses are looked at now rather than at the next stats:
    # weights that a NaN has reached must never be saved (one host sync, only then).
    if due.stats or (due.checkpoint and not trainer.losses_finite()):
        stats = trainer.flush_stats()
        if stats is not None:
            yield from trainer.system.take()  # before the stats: the readings land on its point
            yield stats
            bad = trainer.non_finite(stats)
            if bad:
                trainer.broken = True
                requests.pause()
                return _nan_reason(bad, trainer.step)
            if due.health:
                yield from trainer.health.observe(stats)
    if due.samples:
        samples = trainer.samples()
        yield samples
        yield from converged_marker(trainer, samples)
    if due.checkpoint and trainer.store is not None:  # rank 0's
        yield trainer.try_checkpoint(interval=True)
    if due.metrics:
        trainer.metrics.submit(trainer.step, trainer.cfg, trainer.sampling_generator)
    yield from trainer.metrics.events(trainer.health)
    return ""


def converged_marker(trainer: Trainer, samples: Samples) -> Iterator[Marker]:
    """A "converged" marker at the first samples of a 2D toy that meet core.metrics.converged's
    rule (on the lab's points): one distance matrix per samples event until then, none after."""
    if samples.points is None or any(m.kind == CONVERGED for m in trainer.history.markers):
        return
    found = toy_convergence(trainer.cfg.data.dataset, samples.points)
    if found is not None and found.converged:
        yield Marker(samples.step, CONVERGED, f"converged: {found.describe()}")


def finish(trainer: Trainer, requests: Requests) -> Iterator[Event]:
    """The end of a run (completed or stopped): the last stats, samples, metrics, checkpoint."""
    completed = trainer.step >= trainer.cfg.train.steps
    stats = trainer.flush_stats()
    if stats is not None:
        yield from trainer.system.take()
        yield stats
        if not trainer.non_finite(stats):
            yield from trainer.health.observe(stats)
    if not trainer.broken and trainer.main:
        if completed and trainer.cfg.metrics.every and trainer.metrics.last_step != trainer.step:
            # A completed run ends with the metrics of its last weights.
            trainer.metrics.submit(trainer.step, trainer.cfg, trainer.sampling_generator)
        if trainer.cfg.log.sample_every and trainer.last_samples != trainer.step:
            yield trainer.samples()
        yield from trainer.metrics.drain(trainer.health, wait=completed, stopping=lambda: requests.stopping)
        if (
            trainer.store is not None
            and trainer.last_checkpoint != trainer.step
            and (completed or requests.save_on_stop)
        ):
            yield trainer.try_checkpoint()
    yield Finished(step=trainer.step, reason=COMPLETED if completed else "stopped")


def ending_in_failure(trainer: Trainer, events: Iterator[Event]) -> Iterator[Event]:
    """`events`, ending with Failed instead of raising: the run's data stays, and the consumer
    decides what to tell whom. Out of memory says what to lower, with no traceback."""
    failure: Failed | None = None
    out_of_memory = False
    try:
        yield from events
    except Exception as e:
        out_of_memory = oom.is_out_of_memory(e)
        if out_of_memory:  # what to lower says it all: no traceback
            where = f"at step {trainer.step}"
            failure = Failed(step=trainer.step, message=oom.describe(e, trainer.cfg, trainer.device, where))
        else:
            failure = Failed(
                step=trainer.step, message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()
            )
    if failure is not None:
        if out_of_memory:  # outside the handler, whose traceback held the step's tensors
            oom.release(trainer.device)
        yield failure


def _nan_reason(bad: list[str], step: int) -> str:
    return (
        f"{', '.join(bad)} became NaN or infinite by step {step}; training paused and no "
        "checkpoint was written from these weights. Lower the learning rates, or open the last "
        "good checkpoint."
    )
