"""The `ganstudio` command: the app with no subcommand, and headless `train` / `sample` / `presets`.

This module parses arguments and prints; the work happens in ganstudio.core (and ganstudio.qt for
the app, imported only when the app is asked for).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from ganstudio.core.config import (
    Config,
    ConfigError,
    apply_overrides,
    batch_split_problem,
    run_name,
    to_toml,
)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
_EXIT_OF_SIGNAL = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganstudio",
        description="Train GANs and watch them train. With no command, opens the desktop app.",
    )
    p.add_argument("--config", metavar="FILE", help="app: open with this config (TOML)")
    p.add_argument("--run", metavar="RUN_DIR", help="app: open this run folder and follow it live")
    p.add_argument("--start", action="store_true", help="app: start training at once")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train headless, writing a run folder")
    t.add_argument("--config", metavar="FILE", help="config file (TOML); default: the built-in default")
    t.add_argument("--preset", metavar="NAME", help="start from a named preset (see `ganstudio presets`)")
    t.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override a config key, e.g. --set optim.lr_g=1e-4 (repeatable)",
    )
    t.add_argument("--steps", type=int, metavar="N", help="shorthand for --set train.steps=N")
    t.add_argument(
        "--resume",
        metavar="CKPT",
        help="continue from a checkpoint (.pt); 'auto': the --run-dir's latest one, if any",
    )
    t.add_argument(
        "--fork",
        metavar="CKPT",
        help="a new run that continues a checkpoint with changed keys (--set): the live ones, "
        "the loss, train.seed; it records its parent (default folder: beside the parent's)",
    )
    t.add_argument("--out", metavar="DIR", help="shorthand for --set log.out=DIR")
    t.add_argument(
        "--run-dir",
        metavar="DIR",
        help="use this run folder (made if missing) instead of a new one under --out",
    )
    t.add_argument("--quiet", action="store_true", help="no progress line, only the summary")

    s = sub.add_parser("sample", help="write samples from a checkpoint")
    s.add_argument("checkpoint", metavar="CKPT")
    s.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
    s.add_argument("--out", metavar="FILE", help="output .png (images) or .npy (2D points)")
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    s.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="K",
        help="enlarge the grid K times, pixels kept sharp (default 1: digits make a 73x73 PNG)",
    )

    r = sub.add_parser(
        "runs", help="list the runs in a folder of run folders (folder, status, progress, metric, note)"
    )
    r.add_argument(
        "dirs",
        metavar="DIR",
        nargs="*",
        help="folders holding run folders (default: log.out of the default config, 'runs')",
    )

    e = sub.add_parser("export", help="write a run's curves as CSV or TensorBoard event files")
    e.add_argument("run", metavar="RUN", help="a run folder")
    e.add_argument("--csv", metavar="FILE", help="one row per logged step, a column per series")
    e.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="event files in DIR/<run folder name>/ (scalars, metrics, sample grids, "
        "hyperparameter changes): tensorboard --logdir DIR",
    )

    sub.add_parser("presets", help="list the named presets")
    c = sub.add_parser("config", help="print a config as TOML (a starting point for --config)")
    c.add_argument("--preset", metavar="NAME")
    return p


class _Interrupted(BaseException):
    """Ctrl+C or SIGTERM that aborts: during start-up, or a second one."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "sample":
            return _sample(args)
        if args.command == "presets":
            return _presets()
        if args.command == "runs":
            return _runs(args)
        if args.command == "export":
            return _export(args)
        if args.command == "config":
            print(to_toml(_base_config(None, args.preset)), end="")
            return EXIT_OK
    except ConfigError as e:
        _error("invalid configuration:\n  " + "\n  ".join(e.problems))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    from ganstudio.qt.app import main as app_main

    return app_main(argv)


# The train command's shorthands: a message that names one of these keys names the flag too, as the
# window names its field ("runs folder (log.out)" -> "runs folder (--out, log.out)").
SHORTHANDS = {"log.out": "--out", "train.steps": "--steps"}


def _error(msg: str) -> None:
    for key, flag in SHORTHANDS.items():
        msg = msg.replace(f"({key})", f"({flag}, {key})")
    print(f"ganstudio: error: {msg}", file=sys.stderr)


def _base_config(config_file: str | None, preset: str | None) -> Config:
    from ganstudio.core.run.spec import base_config

    return base_config(config_file, preset)


def _presets() -> int:
    from ganstudio.core.config import presets

    width = max(map(len, presets.NAMES))
    for name in presets.NAMES:
        print(f"{name:<{width}}  {presets.describe(name)}")
    return EXIT_OK


def _runs(args: argparse.Namespace) -> int:
    from ganstudio.core.run.listing import RunScanner, table

    dirs = args.dirs or [Config().log.out]
    missing = [d for d in dirs if not Path(d).expanduser().is_dir()]
    if missing:
        _error(
            f"{', '.join(missing)}: no such folder; give the folder that holds the run folders "
            "(log.out, default 'runs')"
        )
        return EXIT_BAD_INPUT
    runs = RunScanner().scan(dirs)
    if not runs:
        print(f"no runs in {', '.join(dirs)}")
        return EXIT_OK
    print(table(runs))
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from ganstudio.core.run.folder import RunFolder, RunFolderError

    if not (args.csv or args.tensorboard):
        _error("say what to write: --csv FILE and/or --tensorboard DIR")
        return EXIT_BAD_INPUT
    folder = RunFolder(Path(args.run).expanduser())
    try:
        if args.csv:
            from ganstudio.core.run.export import export_csv

            rows = export_csv(folder, args.csv)
            print(f"{args.csv}: {rows} rows")
        if args.tensorboard:
            from ganstudio.core.run.export import export_tensorboard
            from ganstudio.core.run.tensorboard import TensorBoardMissing

            try:
                logdir, counts = export_tensorboard(folder, args.tensorboard)
            except TensorBoardMissing as e:
                raise RunFolderError(str(e)) from None
            print(
                f"{logdir}: {counts['scalars']} scalars, {counts['images']} images, "
                f"{counts['texts']} texts (tensorboard --logdir {args.tensorboard})"
            )
    except RunFolderError as e:
        _error(str(e))
        return EXIT_BAD_INPUT
    return EXIT_OK


class _Signals:
    """Ctrl+C and SIGTERM (kill, docker stop, a scheduler, torchrun) behave alike: the first one
    finishes the step, saves a checkpoint and exits 130 (Ctrl+C) or 143 (SIGTERM); during start-up,
    or a second time, it aborts at once, except while the final checkpoint is being written: that
    save is finished first, so it is never lost."""

    def __init__(self) -> None:
        self.control = None
        self.trainer = None
        self.received: int | None = None
        self._old: dict[int, object] = {}

    def install(self) -> _Signals:
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


def _train(args: argparse.Namespace) -> int:
    signals = _Signals().install()
    try:
        return _train_run(args, signals)
    except _Interrupted as e:
        what = "interrupted" if e.signum == signal.SIGINT else "terminated"
        print(f"\n{what}; the checkpoints in the run folder are intact", file=sys.stderr)
        return _EXIT_OF_SIGNAL[e.signum]
    finally:
        signals.restore()


def _train_run(args: argparse.Namespace, signals: _Signals) -> int:
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    if args.out is not None:
        overrides.append(f"log.out={args.out}")
    if args.fork and (args.resume or args.run_dir):
        _error("--fork makes a new run of its own: use it without --resume and --run-dir")
        return EXIT_BAD_INPUT
    if not (args.resume or args.fork):
        # A bad flag is reported at once, before the seconds that importing torch takes
        # (a ConfigError here reaches main's handler and exits 2).
        apply_overrides(_base_config(args.config, args.preset), overrides)
    if args.resume == "auto" and not args.run_dir:
        _error("--resume auto needs --run-dir DIR: the run folder to continue (or start) in")
        return EXIT_BAD_INPUT

    # torch is imported here, not at module level, so `ganstudio --help` and the app start fast.
    from ganstudio.core.train import distributed

    job = None
    if distributed.env_world_size() > 1:  # under torchrun: join the job first
        hint = next((o.split("=", 1)[1].strip() for o in overrides if o.startswith("train.device=")), "auto")
        try:
            job = distributed.init_from_env(hint)
        except distributed.DistributedSetupError as e:
            _error(f"cannot join the torchrun job: {e}")
            return EXIT_FAILED
        except Exception as e:  # a rendezvous that failed, a port in use, a GPU that is not there
            _error(f"cannot join the torchrun job: {type(e).__name__}: {e}")
            return EXIT_FAILED
    try:
        return _train_job(args, signals, overrides, job)
    finally:
        distributed.teardown(job)  # every exit path, so torchrun sees a clean end


def _train_job(args: argparse.Namespace, signals: _Signals, overrides: list[str], job) -> int:
    """`train` in one process, or in one process of a torchrun job (`job`): rank 0 resolves the
    run and makes and writes its folder, and prints; every rank trains its share."""
    from ganstudio.core.run.control import Control
    from ganstudio.core.train.distributed import Local

    world = job or Local()
    say = _error if world.main else (lambda msg: None)  # one process speaks for the job
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
        )
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
    from ganstudio.core.run.driver import JobFailed, RunDriver
    from ganstudio.core.run.folder import RunFolderError
    from ganstudio.core.train.oom import OutOfMemory

    driver = RunDriver(spec, control=control, on_log_failure="stop", collective=job)
    try:
        driver.prepare()
    except ConfigError as e:
        say("invalid configuration:\n  " + "\n  ".join(e.problems))
    except (CheckpointError, DataError, RunFolderError, OutOfMemory) as e:
        say(str(e)) if job is None or job.main else _error(f"rank {job.rank}: {e}")
    except JobFailed:
        pass
    except OSError as e:
        say(f"cannot use the run folder {run_dir}: {describe_os_error(e)}")
    else:
        return driver, EXIT_OK
    return None, EXIT_BAD_INPUT


def _train_events(driver, control, signals: _Signals, quiet: bool, rank: int | None) -> int:
    """Train, showing the run as it goes (rank 0; another rank says only that it failed); the exit
    code so far."""
    from ganstudio.core.run.state import RunState

    trainer = driver.trainer
    state = RunState(trainer.cfg)
    printer = _Printer(state, trainer, driver, signals, quiet=quiet) if rank is None else None
    code = EXIT_OK
    for ev in driver.events():
        change = state.apply(ev)
        if printer is not None:
            code = printer.show(change, code)
        elif "status" in change and state.failure is not None:
            _error(f"rank {rank}: training failed at step {state.failure.step}: {state.failure.message}")
            code = EXIT_FAILED
        if "status" in change and state.pause_reason:
            # Headless, nobody can press Resume: stop, keeping the last good checkpoint.
            control.stop()
    return code


class _Printer:
    """The CLI's view of a run: prints from the run's state as it changes (the same state and
    changes the app draws)."""

    def __init__(self, state, trainer, driver, signals: _Signals, quiet: bool):
        self.state = state
        self.trainer = trainer
        self.driver = driver
        self.folder = driver.folder
        self.signals = signals
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last_print = 0.0
        self._alerts = 0
        self._failures = 0
        self._saved = 0  # checkpoints saved so far: a failure after the last one was told already
        self._failing = False
        self._status = ""  # the run's status before the change being shown
        self._paused_itself = False  # a pause with a reason, which this command turns into a stop

    def _note(self, text: str) -> None:
        lead = "\n" if self.tty and not self.quiet else ""  # below the progress line, which \r rewrites
        print(f"{lead}{text}", file=sys.stderr)

    def show(self, change, code: int) -> int:
        from ganstudio.core.metrics import summary
        from ganstudio.core.run.state import FAILED, FINISHED, RUNNING, STOPPED

        s = self.state
        if "info" in change and s.status == RUNNING:
            print(
                f"run folder: {self.folder.path}  ({run_name(s.config)}, device {s.device}, "
                f"{s.threads} thread{'s' if s.threads != 1 else ''}, from step {s.step})",
                file=sys.stderr,
            )
        if "stats" in change and not self.quiet:
            self._progress()
        if "metrics" in change and not self.quiet:
            data = self.trainer.data
            line = summary(
                change.event.values,
                modes=len(data.modes) if data.modes is not None else None,
                classes=data.num_classes,
            )
            self._note(f"metrics @ step {change.event.step}: {line}")
        if "checkpoints" in change:
            self._checkpoints()
        if "alerts" in change:
            self._new_alerts()
        self._request(change.event)
        self._status = s.status
        if "status" in change:
            if s.pause_reason:
                self._paused_itself = True
                self._note(f"error: {s.pause_reason}")
                code = EXIT_FAILED
            elif s.status == FAILED:
                if s.failure.traceback:
                    self._note(s.failure.traceback)
                _error(f"training failed at step {s.failure.step}: {s.failure.message}")
                code = EXIT_FAILED
            elif s.status in (FINISHED, STOPPED):
                if self.tty and not self.quiet:
                    print(file=sys.stderr)
                print(f"{s.finish_reason} at step {s.step}; run folder: {self.folder.path}")
                latest = self.folder.checkpoints.latest
                if latest.exists():
                    print(f"latest checkpoint: {latest}")
                if s.checkpoint_failures and s.checkpoint_failures[-1].step == s.step:
                    if self.driver.halted is None:  # else the reason it stopped said so
                        _error(f"the final checkpoint was not saved: {s.checkpoint_failures[-1].message}")
                    code = code or EXIT_FAILED
        return code

    def _new_alerts(self) -> None:
        for a in self.state.alerts[self._alerts :]:
            halted = a == self.driver.halted  # the run stopped for it: an error, not a warning
            self._note(f"error: {a.message}" if halted else f"warning at step {a.step}: {a.message}")
        self._alerts = len(self.state.alerts)

    def _checkpoints(self) -> None:
        """A checkpoint that could not be written is told once until one is written again (the
        run's driver tells how many more failed then, or at the end)."""
        s = self.state
        if len(s.checkpoints) > self._saved:
            self._saved, self._failing = len(s.checkpoints), False
        if len(s.checkpoint_failures) > self._failures:
            self._failures = len(s.checkpoint_failures)
            if not self._failing:
                self._failing = True
                self._note(f"warning: {s.checkpoint_failures[-1].message}")

    def _request(self, ev) -> None:
        """A request from the app, as the run applies it, so the progress line never just freezes.
        In `ganstudio train` only the run folder's control file (the app, or a script in its place)
        pauses, resumes, steps, edits or asks for a checkpoint; a stop comes from there unless a
        signal, a pause for a reason or a full disk stopped it (each says so itself)."""
        from ganstudio.core.run.events import CheckpointSaved, Finished, HyperparamsChanged, Paused, Resumed
        from ganstudio.core.run.state import PAUSED

        if self.quiet:
            return
        if isinstance(ev, Paused) and not ev.reason:
            self._note(
                f"one step from the app, to step {ev.step:,}"
                if self._status == PAUSED
                else f"paused from the app at step {ev.step:,}"
            )
        elif isinstance(ev, Resumed):
            self._note(f"resumed from the app at step {ev.step:,}")
        elif isinstance(ev, HyperparamsChanged):
            self._note(
                ", ".join(_change_text(k, old, new) for k, (old, new) in ev.changes.items())
                + " (from the app)"
            )
        elif isinstance(ev, CheckpointSaved) and ev.manual:
            self._note(f"checkpoint saved from the app: {ev.path}")
        elif (
            isinstance(ev, Finished)
            and ev.reason != "completed"
            and self.signals.received is None
            and self.driver.halted is None
            and not self._paused_itself
        ):
            self._note(f"stopped from the app at step {ev.step:,}")

    def _progress(self) -> None:
        ev = self.state.last_stats
        total = self.state.total_steps
        now = time.monotonic()
        if not (self.tty or now - self._last_print >= 5.0 or ev.step >= total):
            return
        self._last_print = now
        v = ev.values
        rate = v.get("steps_per_s", 0.0)
        eta = (total - ev.step) / rate if rate > 0 else float("nan")
        from ganstudio.core.run.listing import fmt_duration

        line = (
            f"step {ev.step}/{total} {100 * ev.step / max(total, 1):3.0f}% | "
            f"D {v.get('loss_d', float('nan')):.4f} G {v.get('loss_g', float('nan')):.4f} | "
            f"D(x) {v.get('d_real', float('nan')):.3f} D(G(z)) {v.get('d_fake', float('nan')):.3f} | "
            f"{rate:.0f} it/s | ETA {fmt_duration(eta, '--:--', zero=True)} | epoch {ev.epoch:.1f}"
        )
        print(
            ("\r" + line + "\033[K") if self.tty else line,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )


def _change_text(key: str, old, new) -> str:
    """'optim.lr_d 0.0015 → 0.0002'."""
    if isinstance(old, float) and isinstance(new, float):
        return f"{key} {old:g} → {new:g}"
    return f"{key} {old} → {new}"


def _sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ganstudio.core import models
    from ganstudio.core.checkpoint import io as checkpoints
    from ganstudio.core.checkpoint.io import CheckpointError
    from ganstudio.core.config import is_2d, resolved_image_shape
    from ganstudio.core.image import save_grid_png, to_grid

    if args.n < 1:
        _error(f"--n {args.n}: ask for at least 1 sample")
        return EXIT_BAD_INPUT
    if not 1 <= args.scale <= 64:
        _error(f"--scale {args.scale}: use a whole number from 1 to 64")
        return EXIT_BAD_INPUT
    try:
        ckpt = checkpoints.load(args.checkpoint)
        if not ckpt.get("verified", True):
            print(checkpoints.unverified_note(args.checkpoint), file=sys.stderr)
        cfg = checkpoints.config_of(ckpt)
        shape = (2,) if is_2d(cfg) else resolved_image_shape(cfg.data)
        g, _ = models.build(cfg, shape)
        use_ema = bool(ckpt["models"].get("G_ema")) and cfg.train.ema > 0
        try:
            g.load_state_dict(ckpt["models"]["G_ema" if use_ema else "G"])
        except RuntimeError as e:
            detail = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
            raise CheckpointError(f"{args.checkpoint} does not match its config: {detail[:600]}") from None
    except CheckpointError as e:
        _error(str(e))
        return EXIT_BAD_INPUT
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        out = g.eval()(torch.randn(args.n, cfg.model.latent_dim, generator=gen))
    default = Path(args.checkpoint).with_suffix(".npy" if is_2d(cfg) else ".png").name
    target = Path(args.out or f"samples-{default}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_2d(cfg):
            if target.suffix != ".npy":
                _error(f"--out {target}: 2D samples are written as points; use a .npy file name")
                return EXIT_BAD_INPUT
            np.save(target, out.numpy().astype(np.float32))
        else:
            nrow = max(1, int(round(args.n**0.5)))
            grid = to_grid(out, nrow=nrow)
            if args.scale > 1:
                grid = grid.repeat(args.scale, axis=0).repeat(args.scale, axis=1)  # nearest: crisp pixels
            save_grid_png(grid, target)
    except (OSError, ValueError) as e:
        _error(f"cannot write {target}: {e}")
        return EXIT_BAD_INPUT
    print(target)
    return EXIT_OK
