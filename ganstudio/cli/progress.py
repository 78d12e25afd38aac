"""What `ganstudio train` prints as a run goes: the progress line, metrics, warnings, requests from
the app and the summary, all read from the run's state as it changes (the same state the app draws)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from ganstudio.cli.common import EXIT_FAILED, error
from ganstudio.core.config import run_name

if TYPE_CHECKING:
    from ganstudio.cli.train import Signals


class Printer:
    """The CLI's view of a run: prints from the run's state as it changes (the same state and
    changes the app draws)."""

    def __init__(self, state, trainer, driver, signals: Signals, quiet: bool):
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
                error(f"training failed at step {s.failure.step}: {s.failure.message}")
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
                        error(f"the final checkpoint was not saved: {s.checkpoint_failures[-1].message}")
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
