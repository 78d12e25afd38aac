"""A run's state, and the one function that changes it: `RunState.apply(event)`.

The state is the run's config, its history (stats, quality metrics, markers), its alerts, its status
(running, paused, finished, stopped, failed, stale) and where it runs. The trainer keeps one (it goes into
every checkpoint), the CLI keeps one to print from, and the app keeps one that its views draw: all
fed by the same events, whether they come from a training thread or from a run folder being
followed. Because `apply` is the only code that changes a state, the copies cannot drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganstudio.core.config import KEYS, Config, ConfigError, from_dict, validate, with_values
from ganstudio.core.run.events import (
    Alert,
    CheckpointFailed,
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    Heartbeat,
    HyperparamsChanged,
    Marker,
    Metrics,
    Paused,
    RecordError,
    Resumed,
    RunStarted,
    Samples,
    SourceStatus,
    Stale,
    Stats,
    StatsBlock,
    System,
    from_record,
)
from ganstudio.core.run.history import History

NEW, RUNNING, PAUSED, FINISHED, FAILED, STALE = "new", "running", "paused", "finished", "failed", "stale"
STOPPED = "stopped"  # ended before train.steps (Stop, Ctrl+C, SIGTERM, a full disk): continuable
#: What a Finished event's reason is when the run reached train.steps (any other reason is a stop).
COMPLETED = "completed"
#: The events a run's checkpoints and resumed folders carry besides the stats columns.
LOGGED_KINDS = (HyperparamsChanged, CheckpointSaved, Alert, Marker)


#: No heartbeat and no new line for this long: a live run is stale (its process died, or its
#: folder stopped syncing).
STALE_S = 30.0
#: A run folder whose process has made it and not yet written its config (it is loading its data
#: and building its models): the runs listing's word for it; it turns stale like a live run.
STARTING = "starting"
#: What a run that goes quiet turns stale from.
LIVE = (RUNNING, PAUSED, STARTING)
_SAID = (RUNNING, PAUSED, FINISHED, STOPPED, FAILED)  # what a heartbeat may say


def status_of(ev: Event) -> str | None:
    """The status a lifecycle event puts a run in (None for other events): the one rule the reducer,
    the runs listing and the heartbeat share, so a run reads the same everywhere."""
    if isinstance(ev, (RunStarted, Resumed)):
        return RUNNING
    if isinstance(ev, Paused):
        return PAUSED
    if isinstance(ev, Finished):
        return FINISHED if ev.reason == COMPLETED else STOPPED
    if isinstance(ev, Failed):
        return FAILED
    return None


def run_status(logged: str, quiet_s: float = 0.0, *, said: str = "", stale_s: float = STALE_S) -> str:
    """A run's status, the one rule for it wherever it is read (the reducer via the follower's Stale,
    the follower, the runs listing): what its log's lifecycle events say (`logged`: status_of of the
    last one, NEW before any), corrected by what its heartbeat said last (`said`, when the log shows
    the run alive or has no lifecycle line yet: a long run's tail, or a killed writer's missing end),
    and STALE once a live run has shown no sign of life (a heartbeat, a new line) for `stale_s`."""
    status = logged
    if said in _SAID and status in (NEW, RUNNING, PAUSED):
        status = said
    if status in LIVE and quiet_s >= stale_s:
        return STALE
    return status


@dataclass(frozen=True)
class Change:
    """What one `apply` changed: a set of aspects ("stats", "metrics", "markers", "alerts",
    "status", "config", "samples", "checkpoints", "info", "source", "system") and the event."""

    aspects: frozenset[str]
    event: Event

    def __contains__(self, aspect: str) -> bool:
        return aspect in self.aspects


class RunState:
    def __init__(self, config: Config | None = None):
        self.config = config
        self.history = History()
        self.alerts: list[Alert] = []
        #: The marker-making events, in order (hparams changes, checkpoints, alerts, NaN pauses):
        #: saved in checkpoints and replayed into the folder of a resumed run.
        self.log: list[Event] = []
        self.checkpoints: list[CheckpointSaved] = []
        self.checkpoint_failures: list[CheckpointFailed] = []
        self.status = NEW
        self.finish_reason = ""
        self.pause_reason = ""
        self.failure: Failed | None = None
        self.step = 0
        self.total_steps = config.train.steps if config is not None else 0
        self.last_stats: Stats | None = None
        self.latest_samples: Samples | None = None
        self.metrics_step = -1
        # Where it runs.
        self.device = ""
        self.threads = 0
        self.host = ""
        self.pid = 0
        self.world_size = 1
        self.backend = ""
        self.heartbeat: Heartbeat | None = None
        # Stalls a heartbeat told (a hung run's log cannot), and those of them its log has not yet.
        self._stalls_told: set[tuple[str, int, str]] = set()
        self._stalls_unlogged: set[tuple[str, int, str]] = set()
        #: Each process's latest system line (its host, devices and readings), by rank.
        self.system: dict[int, System] = {}
        self._system_due: dict[str, float] = {}  # system readings waiting for the next stats point
        self.source_problem = ""
        self._live_status = RUNNING  # what a stale run was before its heartbeat stopped

    # ----- the one function that changes a run's state ----------------------------------------

    def apply(self, ev: Event) -> Change:
        handler = _HANDLERS.get(type(ev))
        aspects = handler(self, ev) if handler is not None else frozenset()
        return Change(frozenset(aspects), ev)

    def _started(self, ev: RunStarted) -> set[str]:
        changed = {"status", "info"}
        if self._after(ev.step):
            # Resumed from an earlier checkpoint in the same folder (a restart): what was logged
            # after it is not part of this run's story any more.
            self.truncate(ev.step)
            changed |= {"stats", "metrics", "markers", "alerts", "checkpoints"}
        self.step = ev.step
        self.total_steps = ev.total_steps or self.total_steps
        if ev.config:
            try:
                self.config = from_dict(ev.config, source="the run's config")
            except ConfigError:
                pass  # the folder's config.toml stays the reference
            changed.add("config")
        self.device, self.threads = ev.device, ev.threads
        self.host, self.pid = ev.host or self.host, ev.pid or self.pid
        self.world_size, self.backend = ev.world_size, ev.backend
        self.status, self.finish_reason, self.pause_reason, self.failure = status_of(ev), "", "", None
        return changed

    def _after(self, step: int) -> bool:
        steps = self.history.steps()
        return bool(len(steps)) and int(steps[-1]) > step

    def _stats(self, ev: Stats) -> set[str]:
        if self._system_due:
            self.history.append(Stats(ev.step, ev.epoch, ev.wall, {**ev.values, **self._system_due}))
            self._system_due = {}
        else:
            self.history.append(ev)
        self.step = max(self.step, ev.step)
        self.last_stats = ev
        return {"stats"}

    def _stats_block(self, ev: StatsBlock) -> set[str]:
        if not len(ev):
            return set()
        self.history.extend(self._with_system_due(ev))
        self.step = max(self.step, int(ev.steps[-1]))
        self.last_stats = Stats(
            step=int(ev.steps[-1]),
            epoch=float(ev.epochs[-1]),
            wall=float(ev.walls[-1]),
            values={k: float(v[-1]) for k, v in ev.values.items()},
        )
        return {"stats"}

    def _with_system_due(self, ev: StatsBlock) -> StatsBlock:
        """`ev` with the system readings that wait for a stats point on its first point (_system)."""
        if not self._system_due:
            return ev
        values = dict(ev.values)
        for key, value in self._system_due.items():
            column = values[key] = np.array(values.get(key, np.full(len(ev), np.nan)), np.float64)
            column[0] = value
        self._system_due = {}
        return StatsBlock(ev.steps, ev.epochs, ev.walls, values)

    def _samples(self, ev: Samples) -> set[str]:
        self.latest_samples = ev
        return {"samples"}

    def _hparams(self, ev: HyperparamsChanged) -> set[str]:
        self.history.add_marker(ev)
        self.log.append(ev)
        changed = {"markers"}
        if self.config is not None:
            values = {k: new for k, (_, new) in ev.changes.items() if k in KEYS}
            try:
                self.config = validate(with_values(self.config, _typed(values)))
                changed.add("config")
            except ConfigError:
                pass  # a foreign or damaged line: the marker shows it, the config stays valid
        if "train.steps" in ev.changes:
            self.total_steps = int(ev.changes["train.steps"][1])
        return changed

    def _checkpoint(self, ev: CheckpointSaved) -> set[str]:
        self.history.add_marker(ev)
        self.log.append(ev)
        self.checkpoints.append(ev)
        return {"markers", "checkpoints"}

    def _checkpoint_failed(self, ev: CheckpointFailed) -> set[str]:
        self.checkpoint_failures.append(ev)
        return {"checkpoints"}

    def _paused(self, ev: Paused) -> set[str]:
        self.status = status_of(ev)
        self.step = max(self.step, ev.step)  # between log intervals the stats lag behind
        self.pause_reason = ev.reason
        if not ev.reason:
            return {"status"}
        marker = Marker(ev.step, "nan", ev.reason)
        self.history.add_marker(marker)
        self.log.append(marker)
        return {"status", "markers"}

    def _resumed(self, ev: Resumed) -> set[str]:
        self.status, self.pause_reason = status_of(ev), ""
        self.step = max(self.step, ev.step)
        return {"status"}

    def _metrics(self, ev: Metrics) -> set[str]:
        # Quality metrics land at the step they were computed for, a few steps late.
        self.history.merge(ev.step, ev.values)
        self.metrics_step = max(self.metrics_step, ev.step)
        return {"metrics"}

    def _system(self, ev: System) -> set[str]:
        # The readings land on the next stats point, never on a point of their own: the trainer
        # yields a system line just before the stats of its step (core/train/loop.py), and a run's
        # first one (at its start) goes on its first stats. No point is inserted and none drawn
        # already changes, so the history's steps are the stats' and views just draw the new point.
        self.system[ev.rank] = ev
        self._system_due.update(ev.series())
        return {"system"}

    def _alert(self, ev: Alert) -> set[str]:
        told = (ev.kind, ev.step, ev.message)
        if told in self._stalls_unlogged:  # the stall a heartbeat told, now in the log: once
            self._stalls_unlogged.discard(told)
            return set()
        if ev.kind == "stalled":
            self._stalls_told.add(told)
        self.alerts.append(ev)
        self.log.append(ev)
        if ev.kind in Alert.REQUEST_KINDS:
            return {"alerts"}
        self.history.add_marker(Marker(ev.step, ev.kind, ev.message))
        return {"alerts", "markers"}

    def _marker(self, ev: Marker) -> set[str]:
        self.history.add_marker(ev)
        self.log.append(ev)
        return {"markers"}

    def _finished(self, ev: Finished) -> set[str]:
        self.status, self.finish_reason, self.pause_reason = status_of(ev), ev.reason, ""
        self.step = max(self.step, ev.step)
        return {"status"}

    def _failed(self, ev: Failed) -> set[str]:
        self.status, self.failure = status_of(ev), ev
        return {"status"}

    def _heartbeat(self, ev: Heartbeat) -> set[str]:
        self.heartbeat = ev
        self.host, self.pid = ev.host or self.host, ev.pid or self.pid
        changed = {"info"}
        stalled = ev.stalled
        told = None if stalled is None else (stalled.kind, stalled.step, stalled.message)
        if told is not None and told not in self._stalls_told:
            changed |= self._alert(stalled)  # a hung run's stall, before its log can say it
            self._stalls_unlogged.add(told)
        if self.status == STALE:
            self.status = ev.status if ev.status in (RUNNING, PAUSED) else self._live_status
            changed.add("status")
        return changed

    def _stale(self, ev: Stale) -> set[str]:
        # The follower judged the run quiet by run_status; a state that has not read its start yet
        # (a followed folder whose first line is still to come) goes stale as a running one would.
        if self.status != NEW and self.status not in LIVE:
            return set()
        self._live_status = self.status if self.status != NEW else RUNNING
        self.status = STALE
        return {"status"}

    def _source(self, ev: SourceStatus) -> set[str]:
        self.source_problem = "" if ev.state == "ok" else ev.message
        if ev.state != "rewritten":
            return {"source"}
        # The log was replaced: what follows is read from its start, into a clean state.
        problem = self.source_problem
        self.reset(self.config)
        self.source_problem = problem
        return {"source", "stats", "metrics", "markers", "alerts", "status", "checkpoints", "samples"}

    # ----- in place, for views that hold this state's History --------------------------------

    def reset(self, config: Config | None = None) -> None:
        """Become a new run's empty state; the History object stays (emptied)."""
        history = self.history
        self.__init__(config)
        history.replace_with(None)
        self.history = history

    def adopt(self, other: RunState) -> None:
        """Become a copy of `other` (a state read or built elsewhere); the History object stays."""
        history = self.history
        self.__dict__.update(
            {
                k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
                for k, v in other.__dict__.items()
            }
        )
        history.replace_with(other.history)
        self.history = history

    # ----- derived views -----------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Training is going on (or paused) somewhere and has not gone quiet."""
        return self.status in LIVE

    @property
    def steps_per_s(self) -> float:
        if self.last_stats is None:
            return math.nan
        return float(self.last_stats.values.get("steps_per_s", math.nan))

    def truncate(self, step: int) -> None:
        """Forget what happened after `step` (a run rolled back to a checkpoint)."""
        self.history.truncate(step)
        self.log = [e for e in self.log if e.step <= step]
        self.alerts = [a for a in self.alerts if a.step <= step]
        self.checkpoints = [c for c in self.checkpoints if c.step <= step]
        self.step = min(self.step, step)

    # ----- checkpoints: plain values only (torch.load(weights_only=True)) ----------------------

    def log_records(self) -> list[dict[str, Any]]:
        return [e.record() for e in self.log]

    def restore(self, history: History, records: list[Any] | None) -> None:
        """Become the state a checkpoint recorded: its history columns, and its logged events
        applied again (`records`; None for a checkpoint written before they were kept, whose
        markers are kept as they are)."""
        self.history = history
        self.alerts, self.log, self.checkpoints = [], [], []
        if records is None:
            self.log = list(history.markers)
        else:
            history.markers = []
            for rec in records:
                try:
                    ev = from_record(rec)
                except RecordError:
                    continue
                self.apply(ev)
        steps = history.steps()
        self.step = int(steps[-1]) if len(steps) else 0


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """JSON gives 1 for 1.0: a float key's whole number is a float again."""
    out = {}
    for key, value in values.items():
        if KEYS[key].type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[key] = value
    return out


_HANDLERS: dict[type, Any] = {
    RunStarted: RunState._started,
    Stats: RunState._stats,
    StatsBlock: RunState._stats_block,
    Samples: RunState._samples,
    HyperparamsChanged: RunState._hparams,
    CheckpointSaved: RunState._checkpoint,
    CheckpointFailed: RunState._checkpoint_failed,
    Paused: RunState._paused,
    Resumed: RunState._resumed,
    Metrics: RunState._metrics,
    System: RunState._system,
    Alert: RunState._alert,
    Marker: RunState._marker,
    Finished: RunState._finished,
    Failed: RunState._failed,
    Heartbeat: RunState._heartbeat,
    Stale: RunState._stale,
    SourceStatus: RunState._source,
}
