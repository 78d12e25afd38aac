"""A training loop of the user's own, as a GAN Studio run: `ganstudio.init(...)` returns a `Run`.

The run writes the same run folder as `ganstudio train` (core/run/folder.py, through the one log
writer), from the same events (core/run/events.py), so the app opens, follows, compares and lists
it like its own. It is steered the same way too: a `Steering` thread watches the folder's
control.jsonl and writes the heartbeat (core/run/steer.py), handing requests to a `Control`
(core/run/control.py) that `tick()` consumes between the loop's steps, on the loop's thread:

    run = ganstudio.init(out="runs", name="my-gan", config={"optim.lr_g": 2e-4})
    run.watch(g_optimizer=opt_g, d_optimizer=opt_d)
    for step in range(1, steps + 1):
        ...                                   # the loop's own step
        run.log(step, loss_d=ld, loss_g=lg)   # numbers or 0-d tensors: read once per flush
        if not run.tick(step):                # edits, saves; blocks while paused; False: stop
            break
    run.finish()

What it costs the loop: `log` keeps its values as given (no host sync) and writes every log.every
calls or every FLUSH_S, reading every tensor in one batch; `tick` takes a lock and reads no file.
It never stops the loop: a full disk, a deleted folder, a value that is not a number or a callback
that raises is a warning (writer.py) or an alert, and the loop goes on.
"""

from __future__ import annotations

import atexit
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ganstudio.core.api.scalars import Scalars
from ganstudio.core.api.settings import LoopSettings
from ganstudio.core.api.writer import LoopWriter, warn
from ganstudio.core.config import ConfigError, to_dict
from ganstudio.core.run.control import PAUSE, REQUEST, STEP, STOP, Control, Taken
from ganstudio.core.run.events import (
    Alert,
    CheckpointFailed,
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    HyperparamsChanged,
    Marker,
    Paused,
    Resumed,
    RunStarted,
    Samples,
    Stats,
)
from ganstudio.core.run.folder import RunFolder, RunFolderError
from ganstudio.core.run.state import COMPLETED, FAILED, STOPPED
from ganstudio.core.run.steer import Steering
from ganstudio.core.train.health import HealthMonitor

FLUSH_S = 1.0  # logged values wait at most this long (as the loop calls log or tick) to be written
NAN_POLICIES = ("warn", "pause", "stop")
NO_SAVE = (
    "this loop registered no save function, so nothing was saved: call run.on_save(fn) in the loop "
    "to make Save work"
)


class Run:
    """One run of the user's loop; made by `ganstudio.init`. See the module's docstring."""

    def __init__(
        self,
        settings: LoopSettings,
        folder: RunFolder | None,
        *,
        on_change: Callable[[dict[str, Any]], Any] | None = None,
        on_nan: str = "warn",
        main: bool = True,
    ):
        self._settings = settings
        self.folder = folder
        self.main = main
        self.control = Control()  # what the app (through control.jsonl) or a wrapper asks of the loop
        self.step = 0
        self._on_change = on_change
        self._on_nan = on_nan
        self._save_fn: Callable[[int], Any] | None = None
        self._optimizers: dict[str, Any] = {}
        self._scalars = Scalars()
        self._health = HealthMonitor(settings.cfg)
        self._writer: LoopWriter | None = None
        self._steering: Steering | None = None
        self._notifier: Any = None  # log.notify_url's sender (core/run/notify.py), as `train` has
        self._t0 = self._last_flush = time.monotonic()
        self._next_flush = settings.cfg.log.every  # the step whose log call writes the next line
        self._paused_s = 0.0
        self._pause_began: float | None = None  # while paused and said so
        self._pause_reason = ""
        self._rate = (0, self._t0, math.nan)  # (step, time) at the last flush, steps/s since the one before
        self._told: set[str] = set()  # names whose bad values were told
        self._sampler: Any = None  # log.system_every's readings (core/run/system.py), once due
        self._system_last = -math.inf  # when the last system line was read
        self._nan = False  # in a NaN episode (told once, until every value is finite again)
        self._stopped = False
        self._started = False  # RunStarted written
        self._ended = ""
        if folder is not None and main:
            self._open(folder)

    # ----- the loop's calls --------------------------------------------------------------------

    @property
    def config(self) -> Mapping[str, Any]:
        """The current values of the keys the loop gave (and of any changed since), read-only."""
        return self._settings.values

    def watch(self, g_optimizer: Any = None, d_optimizer: Any = None) -> Run:
        """Live edits of optim.lr_g/lr_d (and beta1/beta2 for Adam-like optimizers) go into these
        optimizers, inside `tick`; their learning rates are logged as lr_g and lr_d."""
        given = set(self._settings.values)
        for name, opt in (("g", g_optimizer), ("d", d_optimizer)):
            if opt is not None:
                self._optimizers[name] = opt
                problem = self._settings.adopt(_optim_values(opt, name, given))
                if problem:
                    warn(f"the {name.upper()} optimizer's settings are not shown in GAN Studio: {problem}")
        self._apply_optim(self._settings.cfg, given)
        self._health.cfg = self._settings.cfg
        self._meta({"editable": sorted(self._settings.allowed(watched=bool(self._optimizers)))})
        return self

    def on_save(self, fn: Callable[[int], Any] | None) -> Run:
        """Save from the app calls `fn(step)` inside `tick`; it returns the path it saved to (or
        None). Without one, Save is refused with a reason."""
        self._save_fn = fn
        self._meta({"save": fn is not None})
        return self

    def log(self, step: int, **scalars: Any) -> None:
        """Log numbers (floats, ints, numpy scalars, 0-d tensors on any device) at `step`, under
        any names. Tensors are read once per flush, never here. A stats line is written every
        log.every steps (or FLUSH_S), each name averaged over the calls since the last one."""
        if not self.main or self._ended:
            return
        kept = self._scalars
        bad = kept.add(step, scalars)
        if bad:
            self._bad_values(step, bad)
        if step >= self._next_flush or kept.non_finite or time.monotonic() - self._last_flush >= FLUSH_S:
            self._flush()

    def log_images(self, step: int, x: Any) -> None:
        """Log samples at `step`: images (N, C, H, W) in [-1, 1] (C 1 or 3), or 2D points (N, 2).
        Tensors or numpy arrays; drawn as a grid (or a scatter) in the run folder's samples."""
        if not self.main or self._ended or self._writer is None:
            return
        try:
            ev = _samples(step, x)
        except (TypeError, ValueError) as e:
            self._tell("log_images", f"log_images at step {step} was left out: {e}", step)
            return
        self._write([ev])

    def tick(self, step: int) -> bool:
        """Between steps: apply what was asked (live edits, saves), block while paused, and say
        whether to go on (False once Stop was asked)."""
        self.step = step
        if self._stopped:
            return False
        if self._scalars.calls and time.monotonic() - self._last_flush >= FLUSH_S:
            self._flush()
        control = self.control
        if control.quiet():
            return True
        while True:
            action = control.wait(pause_reported=self._pause_began is not None)
            if action == STOP:
                self._stopped = True
                return False
            if action == REQUEST:
                self._take(control.take())
            elif action == PAUSE:
                self._paused()
            elif action == STEP:  # one step, then paused again (said at the next tick)
                self._unpause(resumed=False)
                return True
            else:  # RUN
                self._unpause(resumed=True)
                return True

    def apply(self, values: dict[str, Any]) -> dict[str, Any]:
        """Apply one edit ({key: value}) as if the app had asked for it: checked, logged, into
        the optimizers and `config`, passed to `on_change`. Returns {key: new value} of what
        changed; a refused edit is an alert (and returns {}). For wrappers that hand one process's
        edits to the others."""
        try:
            changes = self._settings.edit(values, watched=bool(self._optimizers))
        except ConfigError as e:
            self._write([Alert(step=self.step, kind="config", message="; ".join(e.problems))])
            return {}
        if not changes:
            return {}
        cfg = self._settings.cfg
        self._apply_optim(cfg, changes)
        self._health.cfg = cfg
        self._write([HyperparamsChanged(step=self.step, changes=changes)])
        if changes.keys() & self._settings.own:
            self._meta({"values": self._settings.own_values()})
        new = {k: v for k, (_, v) in changes.items()}
        if self._on_change is not None:
            try:
                self._on_change(new)
            except Exception as e:  # the loop's own code: told, and the loop goes on
                self._tell(
                    "on_change",
                    f"on_change raised {type(e).__name__}: {e} (the new values are in run.config)",
                )
        return new

    def flush(self) -> None:
        """Write what was logged since the last stats line now, and wait until the run folder has
        everything (log and tick do it without waiting, every log.every steps)."""
        self._flush()
        if self._writer is not None:
            self._writer.drain()

    def _flush(self) -> None:
        """What was logged since the last flush as one stats line (one host sync for its tensors),
        with the health alerts on it, queued for the writer."""
        self._last_flush = now = time.monotonic()
        kept = self._scalars
        if not kept.calls:
            return
        step = kept.step
        self._next_flush = step + self._settings.cfg.log.every
        try:
            values = kept.read()
        except Exception as e:  # a device error, say: the loop's own step will raise it too
            self._tell("read", f"logged values could not be read: {type(e).__name__}: {e}")
            return
        last, then, _ = self._rate
        rate = (step - last) / (now - then) if now > then else math.nan
        self._rate = (step, now, rate)
        system = self._system_line(step, now)  # before the stats line: the readings go on its point
        events = self._nan_check(step, values)
        stats = Stats(
            step=step,
            epoch=0.0,
            wall=self._wall(),
            values={**self._logged_lrs(), **values, "steps_per_s": rate},
        )
        self._write([*system, stats, *events, *self._health.observe(stats)])

    def _system_line(self, step: int, now: float) -> list[Event]:
        """This process's system line (CPU %, memory, the GPU's when the loop uses CUDA), at the
        first flush and then once log.system_every seconds have passed, as `train` writes them."""
        every = self._settings.cfg.log.system_every
        if not every or now - self._system_last < every:
            return []
        self._system_last = now
        from ganstudio.core.run.system import SystemSampler, system_event  # psutil: once it is used

        if self._sampler is None:
            torch = sys.modules.get("torch")  # the loop's own: never imported here to find a GPU
            cuda = torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized()
            self._sampler = SystemSampler("cuda" if cuda else "cpu")
        return [system_event(step, 0, self._sampler.read(), *self._sampler.where())]

    def finish(self, failed: BaseException | None = None) -> None:
        """End the run: what is logged is written, the status is finished (or stopped when Stop
        was asked, failed with `failed`), the control file is no longer read. Idempotent."""
        if self._ended:
            return
        self.flush()
        if failed is not None and not isinstance(failed, KeyboardInterrupt):
            end: Event = Failed(
                step=self.step,
                message=f"{type(failed).__name__}: {failed}",
                traceback="".join(traceback.format_exception(failed)),
            )
            self._ended = FAILED
        else:
            stopped = self._stopped or failed is not None
            end = Finished(step=self.step, reason="stopped" if stopped else COMPLETED)
            self._ended = STOPPED if stopped else "finished"
        self._write([end])
        if self._notifier is not None:  # the run's last word sent (a hanging endpoint: its timeout)
            self._notifier.close()
            if self._writer is not None:
                self._writer.write(self._notifier.take_alerts())
            self._notifier = None
        if self._writer is not None:
            self._writer.close()  # everything written, then the heartbeat's last word
        if self._steering is not None:
            self._steering.close(final_status=self._ended)
        atexit.unregister(self._at_exit)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        self.finish(failed=error)

    def __repr__(self) -> str:
        where = self.folder.path if self.folder is not None else "no folder"
        return f"<ganstudio.Run {where} step {self.step}>"

    # ----- inside ------------------------------------------------------------------------------

    def _open(self, folder: RunFolder) -> None:
        cfg = self._settings.cfg
        try:
            self._writer = LoopWriter(folder, cfg)
        except RunFolderError as e:
            warn(f"{e}; the loop runs without GAN Studio")
            self.folder = None
            return
        self._meta(
            {
                "live": sorted(self._settings.live),
                "values": self._settings.own_values(),
                "save": False,
                # The GAN Studio keys the app may edit now (the optimizers' once they are watched).
                "editable": sorted(self._settings.allowed(watched=False)),
            }
        )
        self._steering = Steering(folder, self.control, self._status).start()
        if cfg.log.notify_url:
            from ganstudio.core.run.notify import Notifier  # urllib: imported only when it is used

            self._notifier = Notifier(cfg.log.notify_url, run=folder.path.name, host=socket.gethostname())
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """The script ended without finish(): failed when it ended with an uncaught exception."""
        self.finish(failed=getattr(sys, "last_value", None))

    def _status(self) -> tuple[int, str, float]:  # the heartbeat's, from the steering thread
        return self.step, ("paused" if self._pause_began is not None else "running"), self._rate[2]

    def _wall(self) -> float:
        return time.monotonic() - self._t0 - self._paused_s

    def _write(self, events: list[Event]) -> None:
        if self._writer is None or not events:
            return
        if not self._started:  # the loop's first call: its optimizers are watched by now
            self._started = True
            cfg = self._settings.cfg
            self._writer.set_config(cfg)
            start = RunStarted(
                run_dir=str(self.folder.path),
                config=to_dict(cfg),
                device="",
                step=0,
                total_steps=cfg.train.steps,
                threads=0,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
            events = [start, *events]
        self._writer.write(events)
        if self._notifier is not None:  # the webhook, for the events log.notify_on names
            for ev in events:
                self._notifier.handle(ev, self._settings.cfg.log.notify_on)
            self._writer.write(self._notifier.take_alerts())  # notifications that could not be sent

    def _meta(self, updates: dict[str, Any]) -> None:
        """run.json's "loop" table: what the app needs to know of a loop it does not own."""
        if self._writer is None or self._writer.gone:
            return
        try:
            loop = self.folder.meta().get("loop")
            loop = loop if isinstance(loop, dict) else {}
            self.folder.write_meta({"loop": {**loop, **updates}})
        except RunFolderError as e:
            warn(str(e))

    def _take(self, taken: Taken) -> None:
        edits, saves, posted = taken
        self._write(list(posted))
        for values in edits:
            self.apply(values)
        for _ in saves:
            self._save()

    def _paused(self) -> None:
        self._flush()
        self._pause_began = time.monotonic()
        self._write([Paused(step=self.step, reason=self._pause_reason)])

    def _unpause(self, resumed: bool) -> None:
        if self._pause_began is None:
            return
        self._paused_s += time.monotonic() - self._pause_began
        self._pause_began = None
        self._pause_reason = ""
        if resumed:
            self._write([Resumed(step=self.step)])

    def _save(self) -> None:
        if self._save_fn is None:
            self._write([CheckpointFailed(step=self.step, path="", message=NO_SAVE)])
            return
        try:
            path = self._save_fn(self.step)
        except Exception as e:
            message = f"the loop's save function raised {type(e).__name__}: {e}"
            warn(message)
            self._write([CheckpointFailed(step=self.step, path="", message=message)])
            return
        if path is None:
            self._write([Marker(step=self.step, kind="checkpoint", text="saved by the loop", tag="manual")])
        else:
            self._write([CheckpointSaved(step=self.step, path=str(path), manual=True)])

    def _apply_optim(self, cfg: Any, keys: Iterable[str]) -> None:
        """The config's optim.* values into the watched optimizers (those it gave or changed)."""
        o = cfg.optim
        keys = set(keys)
        for name, opt in self._optimizers.items():
            lr_key = f"optim.lr_{name}"
            for group in opt.param_groups:
                if lr_key in keys:
                    group["lr"] = getattr(o, f"lr_{name}")
                if "betas" in group and keys & {"optim.beta1", "optim.beta2"}:
                    b1, b2 = group["betas"]
                    b1 = o.beta1 if "optim.beta1" in keys else b1
                    group["betas"] = (b1, o.beta2 if "optim.beta2" in keys else b2)

    def _logged_lrs(self) -> dict[str, float]:
        out = {}
        for name, opt in self._optimizers.items():
            try:
                out[f"lr_{name}"] = float(opt.param_groups[0]["lr"])
            except Exception:  # an optimizer of the loop's own making: no rate to show
                pass
        return out

    def _nan_check(self, step: int, values: dict[str, float]) -> list[Event]:
        """The NaN policy on what the loop logged at `step` (told once per episode)."""
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if not bad:
            self._nan = False
            return []
        if self._nan:
            return []
        self._nan = True
        message = f"{', '.join(bad)} became NaN or infinite by step {step}"
        if self._on_nan == "pause":
            self._pause_reason = (
                f"{message}; the loop is paused. Resume it, or stop it and lower the learning rates."
            )
            self.control.pause()
            return []
        if self._on_nan == "stop":
            self.control.stop()
            message += "; the loop is stopped (on_nan='stop')"
        warn(message)
        return [Alert(step=step, kind="nan", message=message, evidence={"step": float(step)})]

    def _bad_values(self, step: int, bad: dict[str, str]) -> None:
        for name, why in bad.items():
            self._tell(name, f"log({name}=...) at step {step} was left out: {why}", step)

    def _tell(self, topic: str, message: str, step: int | None = None) -> None:
        """A mistake in what the loop hands over: warned and alerted once per topic."""
        if topic in self._told:
            return
        self._told.add(topic)
        warn(message + " (told once)")
        self._write([Alert(step=self.step if step is None else step, kind="log", message=message)])


def _optim_values(opt: Any, name: str, given: set[str]) -> dict[str, Any]:
    """An optimizer's learning rate (and Adam's betas) as config values, for the keys the loop
    did not give: the app then shows what the optimizer really has."""
    try:
        group = opt.param_groups[0]
        out = {f"optim.lr_{name}": float(group["lr"])}
        if "betas" in group:
            out["optim.beta1"], out["optim.beta2"] = (float(b) for b in group["betas"])
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return {}
    return {k: v for k, v in out.items() if k not in given}


def _samples(step: int, x: Any) -> Samples:
    """Images (N, C, H, W) in [-1, 1] as a grid, or points (N, 2); ValueError/TypeError otherwise."""
    import numpy as np

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"expected a tensor or numpy array, not {type(x).__name__}")
    if x.ndim == 2 and x.shape[1] == 2:
        return Samples(step=int(step), points=np.ascontiguousarray(x, dtype=np.float32))
    if x.ndim != 4 or x.shape[1] not in (1, 3) or not len(x):
        raise ValueError(f"expected images (N, C, H, W) with C 1 or 3, or points (N, 2); got shape {x.shape}")
    import torch

    from ganstudio.core.image import to_grid

    return Samples(step=int(step), grid=to_grid(torch.from_numpy(np.nan_to_num(x[:64]))))


def init(
    out: str | Path = "runs",
    name: str = "",
    config: Mapping[str, Any] | None = None,
    live: Iterable[str] = (),
    on_change: Callable[[dict[str, Any]], Any] | None = None,
    *,
    on_nan: str = "warn",
    main: bool = True,
) -> Run:
    """Start a run of your own loop in a new run folder under `out`, named `name`.

    config: {key: value}; GAN Studio's keys (optim.lr_g, train.steps, ...) are checked as the app
    checks them (ConfigError, at once), others are the loop's own plain values. live: the keys the
    app may edit while the loop runs besides GAN Studio's that the loop always takes (health.*,
    log.every, train.steps; optim.lr_*/beta* once optimizers are watched); on_change({key: new})
    is called inside tick() after each edit. on_nan: "warn" (an alert), "pause" (the loop pauses at
    its next tick) or "stop" (tick returns False). main=False (another rank of a job): nothing is
    written and no control file is read; a wrapper hands it the main process's requests through
    `run.control` and `run.apply`."""
    if on_nan not in NAN_POLICIES:
        raise ValueError(f"on_nan must be one of {', '.join(NAN_POLICIES)}, not {on_nan!r}")
    defaults: dict[str, Any] = {"log.out": str(out)}
    if name:
        defaults["log.name"] = name
    live = [live] if isinstance(live, str) else list(live)
    settings = LoopSettings(config, live, defaults)
    folder = None
    if main:
        try:
            folder = RunFolder.create(settings.cfg, out=out)
        except RunFolderError as e:
            warn(f"{e}; the loop runs without GAN Studio")
    run = Run(settings, folder, on_change=on_change, on_nan=on_nan, main=main)
    if folder is not None and run.folder is None:  # made, then not writable
        folder.remove_if_empty()
    return run


__all__ = ["FLUSH_S", "Run", "init"]
