"""The `train` command: a run trained headless in its folder, in one process or in each of a
torchrun job's, stopped cleanly by Ctrl+C or SIGTERM (what it prints as it goes is progress.py)."""

from __future__ import annotations

import argparse
import signal
import sys

from ganstudio.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    base_config,
    error,
)
from ganstudio.cli.progress import Printer
from ganstudio.core.config import ConfigError, apply_overrides, batch_split_problem

_EXIT_OF_SIGNAL = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}


class _Interrupted(BaseException):
    """Ctrl+C or SIGTERM that aborts: during start-up, or a second one."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Signals:
    """Ctrl+C and SIGTERM (kill, docker stop, a scheduler, torchrun) behave alike: the first one
    finishes the step, saves a checkpoint and exits 130 (Ctrl+C) or 143 (SIGTERM); during start-up,
    or a second time, it aborts at once, except while the final checkpoint is being written: that
    save is finished first, so it is never lost."""

    def __init__(self) -> None:
        self.control = None
        self.trainer = None
        self.received: int | None = None
        self._old: dict[int, object] = {}

    def install(self) -> Signals:
        for sig in _EXIT_OF_SIGNAL:
            self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    @property
    def exit_code(self) -> int:
        return _EXIT_OF_SIGNAL.get(self.received, EXIT_INTERRUPTED)

    def _on_signal(self, signum, frame) -> None:
        name = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
        if self.received is None:
            self.received = signum
            if self.control is None:  # still starting: nothing to save yet
                raise _Interrupted(signum)
            print(
                f"\n{name}: stopping after this step and saving a checkpoint "
                "(Ctrl+C again to abort without saving)…",
                file=sys.stderr,
            )
            self.control.stop()
            return
        if self.trainer is not None and self.trainer.saving:
            print(f"\n{name}: the checkpoint is being written; finishing it first…", file=sys.stderr)
            return
        raise _Interrupted(signum)


def train(args: argparse.Namespace) -> int:
    signals = Signals().install()
    try:
        return _train_run(args, signals)
    except _Interrupted as e:
        what = "interrupted" if e.signum == signal.SIGINT else "terminated"
        print(f"\n{what}; the checkpoints in the run folder are intact", file=sys.stderr)
        return _EXIT_OF_SIGNAL[e.signum]
    finally:
        signals.restore()


def _train_run(args: argparse.Namespace, signals: Signals) -> int:
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    if args.out is not None:
        overrides.append(f"log.out={args.out}")
    if args.fork and (args.resume or args.run_dir):
        error("--fork makes a new run of its own: use it without --resume and --run-dir")
        return EXIT_BAD_INPUT
    if not (args.resume or args.fork):
        # A bad flag is reported at once, before the seconds that importing torch takes
        # (a ConfigError here reaches main's handler and exits 2).
        apply_overrides(base_config(args.config, args.preset), overrides)
    if args.resume == "auto" and not args.run_dir:
        error("--resume auto needs --run-dir DIR: the run folder to continue (or start) in")
        return EXIT_BAD_INPUT

    # torch is imported here, not at module level, so `ganstudio --help` and the app start fast.
    from ganstudio.core.train import distributed

    job = None
    if distributed.env_world_size() > 1:  # under torchrun: join the job first
        hint = next((o.split("=", 1)[1].strip() for o in overrides if o.startswith("train.device=")), "auto")
        try:
            job = distributed.init_from_env(hint)
        except distributed.DistributedSetupError as e:
            error(f"cannot join the torchrun job: {e}")
            return EXIT_FAILED
        except Exception as e:  # a rendezvous that failed, a port in use, a GPU that is not there
            error(f"cannot join the torchrun job: {type(e).__name__}: {e}")
            return EXIT_FAILED
    try:
        return _train_job(args, signals, overrides, job)
    finally:
        distributed.teardown(job)  # every exit path, so torchrun sees a clean end


def _train_job(args: argparse.Namespace, signals: Signals, overrides: list[str], job) -> int:
    """`train` in one process, or in one process of a torchrun job (`job`): rank 0 resolves the
    run and makes and writes its folder, and prints; every rank trains its share."""
    from ganstudio.core.run.control import Control
    from ganstudio.core.train.distributed import Local

    world = job or Local()
    say = error if world.main else (lambda msg: None)  # one process speaks for the job
    spec, problem = _resolve(args, overrides) if world.main else (None, None)
    if not world.all_ok(problem is None):
        say(problem)
        return EXIT_BAD_INPUT
    spec = world.broadcast(spec)
    problem = batch_split_problem(spec.cfg.train.batch_size, world.world_size)
    if problem is not None:
        say(problem)
        return EXIT_BAD_INPUT
    control = Control()
    driver, code = _prepare(spec, control, job, say, args.run_dir)
    if driver is None:
        return code
    trainer = driver.trainer
    if world.main:
        for w in trainer.data.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if not trainer.checkpoint_verified:
            from ganstudio.core.checkpoint import io as checkpoints

            print(checkpoints.unverified_note(spec.checkpoint), file=sys.stderr)
    signals.trainer = trainer
    signals.control = control
    if signals.received is not None:  # a signal during the last moments of start-up
        control.stop()
    try:
        rank = None if world.main else job.rank
        code = _train_events(driver, control, signals, quiet=args.quiet, rank=rank)
    finally:
        driver.close()
    if driver.halted is not None and code == EXIT_OK:  # stopped for want of disk: said as it stopped
        code = EXIT_FAILED
    if signals.received is not None and code == EXIT_OK:
        code = signals.exit_code
    return code


def _resolve(args: argparse.Namespace, overrides: list[str]):
    """(the run the arguments describe, None), or (None, what is wrong with them)."""
    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.disk import describe_os_error
    from ganstudio.core.models.user import ModelCodeError
    from ganstudio.core.run.folder import RunFolderError
    from ganstudio.core.run.spec import RunSpec

    try:
        spec = RunSpec.resolve(
            args.config,
            preset=args.preset,
            overrides=overrides,
            resume=args.resume,
            fork=args.fork,
            run_dir=args.run_dir,
            out=args.out,
            model_file=args.model_file,
        )
    except ModelCodeError as e:
        return None, str(e)
    except ConfigError as e:
        return None, "invalid configuration:\n  " + "\n  ".join(e.problems)
    except (CheckpointError, RunFolderError) as e:
        return None, str(e)
    except OSError as e:
        return None, f"cannot use the run folder {args.run_dir}: {describe_os_error(e)}"
    return spec, None


def _prepare(spec, control, job, say, run_dir):
    """(the driver of the prepared run, EXIT_OK), or (None, the exit code) with what went wrong said."""
    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.data import DataError
    from ganstudio.core.disk import describe_os_error
    from ganstudio.core.models.user import ModelCodeError
    from ganstudio.core.run.driver import JobFailed, RunDriver
    from ganstudio.core.run.folder import RunFolderError
    from ganstudio.core.train.oom import OutOfMemory

    driver = RunDriver(spec, control=control, on_log_failure="stop", collective=job)
    try:
        driver.prepare()
    except ModelCodeError as e:  # your model's code, said as it is: file, line, expected, returned
        say(str(e)) if job is None or job.main else error(f"rank {job.rank}: {e}")
    except ConfigError as e:
        say("invalid configuration:\n  " + "\n  ".join(e.problems))
    except (CheckpointError, DataError, RunFolderError, OutOfMemory) as e:
        say(str(e)) if job is None or job.main else error(f"rank {job.rank}: {e}")
    except JobFailed:
        pass
    except OSError as e:
        say(f"cannot use the run folder {run_dir}: {describe_os_error(e)}")
    else:
        return driver, EXIT_OK
    return None, EXIT_BAD_INPUT


def _train_events(driver, control, signals: Signals, quiet: bool, rank: int | None) -> int:
    """Train, showing the run as it goes (rank 0; another rank says only that it failed); the exit
    code so far."""
    from ganstudio.core.run.state import RunState

    trainer = driver.trainer
    state = RunState(trainer.cfg)
    printer = Printer(state, trainer, driver, signals, quiet=quiet) if rank is None else None
    code = EXIT_OK
    for ev in driver.events():
        change = state.apply(ev)
        if printer is not None:
            code = printer.show(change, code)
        elif "status" in change and state.failure is not None:
            error(f"rank {rank}: training failed at step {state.failure.step}: {state.failure.message}")
            code = EXIT_FAILED
        if "status" in change and state.pause_reason:
            # Headless, nobody can press Resume: stop, keeping the last good checkpoint.
            control.stop()
    return code
