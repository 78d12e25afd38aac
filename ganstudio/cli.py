"""The `ganstudio` command: the app with no subcommand, and headless `train` / `sample` / `presets`.

This module parses arguments and prints; the work happens in ganstudio.core (and ganstudio.qt for
the app, imported only when the app is asked for).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

from ganstudio.core.config import Config, ConfigError, apply_overrides, load, run_name, to_toml

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganstudio",
        description="Train GANs and watch them train. With no command, opens the desktop app.",
    )
    p.add_argument("--config", metavar="FILE", help="app: open with this config (TOML)")
    p.add_argument("--start", action="store_true", help="app: start training at once")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train headless, writing a run folder")
    t.add_argument("--config", metavar="FILE", help="config file (TOML); default: the built-in default")
    t.add_argument("--preset", metavar="NAME", help="start from a named preset (see `ganstudio presets`)")
    t.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override a config key, e.g. --set optim.lr_g=1e-4 (repeatable)")
    t.add_argument("--steps", type=int, metavar="N", help="shorthand for --set train.steps=N")
    t.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint (.pt)")
    t.add_argument("--out", metavar="DIR", help="shorthand for --set log.out=DIR")
    t.add_argument("--quiet", action="store_true", help="no progress line, only the summary")

    s = sub.add_parser("sample", help="write samples from a checkpoint")
    s.add_argument("checkpoint", metavar="CKPT")
    s.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
    s.add_argument("--out", metavar="FILE", help="output .png (images) or .npy (2D points)")
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")

    sub.add_parser("presets", help="list the named presets")
    c = sub.add_parser("config", help="print a config as TOML (a starting point for --config)")
    c.add_argument("--preset", metavar="NAME")
    return p


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
        if args.command == "config":
            print(to_toml(_base_config(None, args.preset)), end="")
            return EXIT_OK
    except ConfigError as e:
        _error("invalid configuration:\n  " + "\n  ".join(e.problems))
        return EXIT_BAD_INPUT
    from ganstudio.qt.app import main as app_main

    return app_main(argv)


def _error(msg: str) -> None:
    print(f"ganstudio: error: {msg}", file=sys.stderr)


def _base_config(config_file: str | None, preset: str | None) -> Config:
    from ganstudio.core import presets

    if config_file and preset:
        raise ConfigError(["use either --config or --preset, not both"])
    if config_file:
        return load(config_file)
    if preset:
        try:
            return presets.get(preset)
        except KeyError as e:
            raise ConfigError([str(e.args[0])]) from None
    return Config()


def _presets() -> int:
    from ganstudio.core import presets

    width = max(map(len, presets.NAMES))
    for name in presets.NAMES:
        print(f"{name:<{width}}  {presets.describe(name)}")
    return EXIT_OK


def _fmt_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    if args.out is not None:
        overrides.append(f"log.out={args.out}")
    if not args.resume:
        # A bad flag is reported at once, before the seconds that importing torch takes
        # (a ConfigError here reaches main's handler and exits 2).
        apply_overrides(_base_config(args.config, args.preset), overrides)

    # torch is imported here, not at module level, so `ganstudio --help` and the app start fast.
    from ganstudio.core.checkpoints import CheckpointError
    from ganstudio.core.data import DataError
    from ganstudio.core.events import (
        Alert,
        CheckpointFailed,
        Failed,
        Finished,
        Metrics,
        Paused,
        RunStarted,
        Stats,
    )
    from ganstudio.core.metrics import summary
    from ganstudio.core.runlog import RunLog, create_run_dir
    from ganstudio.core.trainer import Control, Trainer

    try:
        if args.resume:
            from ganstudio.core import checkpoints

            saved = checkpoints.config_of(checkpoints.load(args.resume))
            base = load(args.config) if args.config else saved
            cfg = apply_overrides(base, overrides)
        else:
            cfg = apply_overrides(_base_config(args.config, args.preset), overrides)
        run_dir = create_run_dir(cfg)
        ckpt_dir = run_dir / "checkpoints"
        try:
            if args.resume:
                trainer = Trainer.from_checkpoint(args.resume, config=cfg, checkpoint_dir=ckpt_dir)
            else:
                trainer = Trainer(cfg, checkpoint_dir=ckpt_dir)
        except BaseException:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # still empty: a refused run leaves no folder behind
            raise
    except ConfigError as e:
        _error("invalid configuration:\n  " + "\n  ".join(e.problems))
        return EXIT_BAD_INPUT
    except (CheckpointError, DataError) as e:
        _error(str(e))
        return EXIT_BAD_INPUT

    for w in trainer.data.warnings:
        print(f"warning: {w}", file=sys.stderr)
    control = Control()
    interrupted = []

    def on_sigint(signum, frame):  # first Ctrl+C: finish the step, save, exit; second: abort
        if interrupted:
            raise KeyboardInterrupt
        interrupted.append(True)
        print("\nstopping after this step (Ctrl+C again to abort without saving)…", file=sys.stderr)
        control.stop()

    old_handler = signal.signal(signal.SIGINT, on_sigint)
    tty = sys.stderr.isatty()
    last_print = 0.0
    code = EXIT_OK
    log = RunLog(run_dir, trainer.cfg, trainer.data.x.numpy() if trainer.data.is_2d else None)
    if args.resume:
        log.write_history(trainer.history)
    try:
        for ev in trainer.run(control):
            log.handle(ev)
            if isinstance(ev, RunStarted):
                print(f"run folder: {run_dir}  ({run_name(cfg)}, device {ev.device}, "
                      f"{ev.threads} thread{'s' if ev.threads != 1 else ''}, from step {ev.step})",
                      file=sys.stderr)
            elif isinstance(ev, Stats) and not args.quiet:
                now = time.monotonic()
                if tty or now - last_print >= 5.0 or ev.step >= trainer.cfg.train.steps:
                    last_print = now
                    v = ev.values
                    total = trainer.cfg.train.steps
                    eta = (total - ev.step) / v["steps_per_s"] if v["steps_per_s"] > 0 else float("nan")
                    line = (f"step {ev.step}/{total} {100 * ev.step / total:3.0f}% | "
                            f"D {v['loss_d']:.4f} G {v['loss_g']:.4f} | D(x) {v['d_real']:.3f} "
                            f"D(G(z)) {v['d_fake']:.3f} | {v['steps_per_s']:.0f} it/s | "
                            f"ETA {_fmt_eta(eta)} | epoch {ev.epoch:.1f}")
                    print(("\r" + line + "\033[K") if tty else line, end="" if tty else "\n",
                          file=sys.stderr, flush=True)
            elif isinstance(ev, CheckpointFailed):
                print(f"\nwarning: {ev.message}", file=sys.stderr)
            elif isinstance(ev, Metrics) and not args.quiet:
                data = trainer.data
                line = summary(ev.values, modes=len(data.modes) if data.modes is not None else None,
                               classes=data.num_classes)
                lead = "\n" if tty else ""  # below the progress line, which \r rewrites
                print(f"{lead}metrics @ step {ev.step}: {line}", file=sys.stderr)
            elif isinstance(ev, Alert):
                print(f"\nwarning at step {ev.step}: {ev.message}", file=sys.stderr)
            elif isinstance(ev, Paused) and ev.reason:
                # Headless, nobody can press Resume: stop, keeping the last good checkpoint.
                print(f"\nerror: {ev.reason}", file=sys.stderr)
                code = EXIT_FAILED
                control.stop()
            elif isinstance(ev, Failed):
                print(f"\n{ev.traceback}", file=sys.stderr)
                _error(f"training failed at step {ev.step}: {ev.message}")
                code = EXIT_FAILED
            elif isinstance(ev, Finished):
                if tty and not args.quiet:
                    print(file=sys.stderr)
                print(f"{ev.reason} at step {ev.step}; run folder: {run_dir}")
                latest = run_dir / "checkpoints" / "latest.pt"
                if latest.exists():
                    print(f"latest checkpoint: {latest}")
                if interrupted and code == EXIT_OK:
                    code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\naborted; the last checkpoint in the run folder is intact", file=sys.stderr)
        code = EXIT_INTERRUPTED
    finally:
        log.close()
        signal.signal(signal.SIGINT, old_handler)
    return code


def _sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ganstudio.core import checkpoints, models
    from ganstudio.core.checkpoints import CheckpointError
    from ganstudio.core.config import is_2d, resolved_image_shape
    from ganstudio.core.runlog import save_grid_png
    from ganstudio.core.trainer import to_grid

    if args.n < 1:
        _error(f"--n {args.n}: ask for at least 1 sample")
        return EXIT_BAD_INPUT
    try:
        ckpt = checkpoints.load(args.checkpoint)
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
            save_grid_png(to_grid(out, nrow=nrow), target)
    except (OSError, ValueError) as e:
        _error(f"cannot write {target}: {e}")
        return EXIT_BAD_INPUT
    print(target)
    return EXIT_OK
