"""The runs in a folder of run folders: what each is (name, data, model, loss, progress, status, when,
its latest quality metric), read cheaply, and the few things done to a run as a whole (rename, a
note, the trash).

Listing must stay fast for hundreds of runs and million-line logs, so a run is never read whole
here: its status, step and last metric come from the last few KB of metrics.jsonl, run.json,
config.toml and the heartbeat's age. `RunScanner` re-reads only the folders whose files changed.
A folder that is not a run, or is damaged, or was written by a newer version is listed with the
reason, never skipped and never an exception.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ganstudio.core.config.arch import arch_label
from ganstudio.core.config.io import to_dict
from ganstudio.core.disk import describe_os_error
from ganstudio.core.run.events import (
    LOGGED,
    Failed,
    Finished,
    Metrics,
    Paused,
    RecordError,
    Resumed,
    RunStarted,
    Stats,
    System,
    from_record,
)
from ganstudio.core.run.folder import CONFIG, METRICS, TRASH, RunFolder, RunFolderError
from ganstudio.core.run.log import parse_line
from ganstudio.core.run.state import LIVE, NEW, RUNNING, STALE, STALE_S, STARTING, run_status, status_of

DAMAGED, NOT_A_RUN, NEWER = "damaged", "not a run", "newer version"
TAIL_BYTES = 64 * 1024  # the end of metrics.jsonl read for the status, the step and the last metric
#: The quality metric shown for a run: the first of these its last evaluation has.
MAIN_METRICS = ("fd", "modes_covered", "classes_covered", "recognised", "high_quality", "precision")
_LIFECYCLE_KINDS = frozenset(cls.KIND for cls in (RunStarted, Resumed, Paused, Finished, Failed))
NEVER_STARTED = (
    f"no {CONFIG} {STALE_S:.0f} s after its folder was made: its process stopped while "
    "starting (or is still loading its data, or the folder did not sync whole)"
)


class RunsError(Exception):
    """An operation on a run that cannot be done; str(e) names the run and says what to do."""


@dataclass(frozen=True)
class RunInfo:
    """One row of the runs list. `status` is a run status (running, paused, finished, stopped,
    failed, stale, new), STARTING, or DAMAGED / NOT_A_RUN / NEWER, with `problem` saying why."""

    path: Path
    name: str  # run.json's name (the user may rename it), else the folder's
    note: str = ""
    dataset: str = ""
    arch: str = ""
    loss: str = ""
    step: int = 0
    total: int = 0
    status: str = NEW
    problem: str = ""
    created: float | None = None  # seconds since the epoch
    duration: float = 0.0  # seconds of training (the last stats line's wall)
    metric: tuple[str, float] | None = None
    parent: dict[str, Any] | None = None  # run.json's parent: {"kind", "run", "step", "checkpoint"}
    newest: float = 0.0  # mtime of the newest of heartbeat.json and metrics.jsonl
    live_status: str = NEW  # the status before the stale check (what the files say)
    processes: int = 1  # a torchrun job's world size
    #: Where it runs, per process (rank order): its host and its devices, from the tail's system
    #: lines (else its started line: the job's hosts and rank 0's device).
    hosts: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    config: dict[str, Any] | None = None  # config.toml as nested plain values; None: none readable
    metrics: dict[str, float] | None = None  # the last evaluation's values (its metric, "<key>_std", n)

    @property
    def alive(self) -> bool:
        """Training now (or paused, or starting) in some process, with a recent sign of life."""
        return self.status in LIVE

    @property
    def is_run(self) -> bool:
        return self.status not in (NOT_A_RUN, NEWER)

    @property
    def openable(self) -> bool:
        """Whether the app can open (or compare) it now: a starting run has no config to show yet."""
        return self.is_run and self.status != STARTING

    @property
    def folder(self) -> str:
        return self.path.name

    @property
    def parent_path(self) -> Path | None:
        run = (self.parent or {}).get("run")
        return Path(run) if isinstance(run, str) and run else None

    def steps_text(self) -> str:
        return f"{self.step:,} / {self.total:,}" if self.total else (f"{self.step:,}" if self.step else "")

    def status_text(self) -> str:
        """The status, with a torchrun job's number of processes."""
        return f"{self.status} ({self.processes} processes)" if self.processes > 1 else self.status

    def metric_text(self) -> str:
        if self.metric is None:
            return ""
        name, value = self.metric
        return f"{name} {value:.3g}"

    def why_not_trash(self) -> str:
        """Why this run cannot go to the trash now ("" when it can)."""
        if self.alive:
            return (
                f"{self.name} is {self.status} in another process (a sign of life under "
                f"{STALE_S:.0f} s old): stop it first; a live run is never moved to the trash"
            )
        return ""


def describe(path: str | Path, now: float | None = None) -> RunInfo:
    """What the folder at `path` is, from its small files and the end of its log. Never raises:
    another process may be writing any of those files right now, and whatever they hold, the
    answer is a row (a problem nobody foresaw included, as the row's problem)."""
    now = time.time() if now is None else now
    try:
        folder = RunFolder(Path(path))
        info = RunInfo(path=folder.path, name=folder.name, created=_mtime(folder.path))
    except Exception as e:  # a path no file system function takes (a NUL in it)
        return RunInfo(
            path=Path(str(path)), name=str(path), status=DAMAGED, live_status=DAMAGED, problem=_unforeseen(e)
        )
    try:
        return with_staleness(_describe(folder, info), now)
    except Exception as e:  # the promise above, kept for a case no reader below foresaw
        return replace(info, status=DAMAGED, live_status=DAMAGED, problem=_unforeseen(e))


def _unforeseen(e: BaseException) -> str:
    return (
        f"cannot be listed: {type(e).__name__}: {e} (a bug in GAN Studio, not in the folder; "
        "please report it)"
    )


def _describe(folder: RunFolder, info: RunInfo) -> RunInfo:
    """The row, built from each file's own reader: each returns what it read and what is wrong
    with it, so a file missing or half-written leaves its fields empty and never another's."""
    if not _looks_like_a_run(folder):
        if _nothing_yet(folder.path):  # made a moment ago: its run.json not yet in it, or being written
            return replace(info, status=STARTING, live_status=STARTING, newest=info.created or 0.0)
        if not _looks_like_a_run(folder):  # again: its run.json may have landed between the looks
            return replace(
                info,
                status=NOT_A_RUN,
                live_status=NOT_A_RUN,
                problem=f"no {CONFIG} or {METRICS}: not a GAN Studio run folder",
            )
    try:
        problem = folder.version_problem()
        meta = folder.meta() if problem is None else {}
    except RunFolderError as e:  # run.json replaced between the two reads
        problem, meta = str(e), {}
    if problem is not None:
        status = NEWER if "newer" in problem else DAMAGED
        return replace(info, status=status, live_status=status, problem=problem)
    info = replace(info, **_meta_fields(meta, info))
    has_config, has_log = folder.config_path.exists(), folder.metrics_path.exists()
    if not has_config and not has_log:
        # Made by its process a moment ago, which builds the data and models before it writes
        # its config: "starting", turned stale (with why) by with_staleness if it stays so.
        return replace(info, status=STARTING, live_status=STARTING, newest=info.created or 0.0)
    problems = []
    if isinstance(meta.get("imported"), dict):  # `ganstudio import`: no config, by design
        fields, config_problem = {"arch": IMPORTED}, ""
    else:
        fields, config_problem = _config_fields(folder, isinstance(meta.get("loop"), dict))
    info = replace(info, **fields)
    if config_problem:
        problems.append(config_problem)
    info, log_problem = _read_tail(folder, info)
    if log_problem:
        problems.append(log_problem)
    info = _with_heartbeat(folder, info)
    if problems:
        info = replace(info, status=DAMAGED, live_status=DAMAGED, problem="; ".join(problems))
    return info


def _meta_fields(meta: dict[str, Any], info: RunInfo) -> dict[str, Any]:
    """RunInfo fields from run.json: what has the right type, each on its own."""
    name, note, parent = meta.get("name"), meta.get("note"), meta.get("parent")
    return {
        "name": name if isinstance(name, str) and name.strip() else info.name,
        "note": " ".join(note.split()) if isinstance(note, str) else "",
        "parent": parent if isinstance(parent, dict) else None,
        "created": _number(meta.get("created")) or info.created,
    }


OWN_LOOP = "your loop"  # the arch column of a run a loop of the user's writes (ganstudio.init)
IMPORTED = "imported"  # the arch column of a run made by `ganstudio import` (run.json's "imported")


def _config_fields(folder: RunFolder, own_loop: bool = False) -> tuple[dict[str, Any], str]:
    """({dataset, arch, loss, total} from config.toml, "") or ({}, why it cannot be read). A run
    of your own model shows its file's name; one of your own loop (run.json's "loop" table) says
    so, as its config's model and loss keys are only the defaults, not what the loop trains."""
    cfg, why = folder.try_config()
    if cfg is None:
        return {}, why
    return {
        "config": to_dict(cfg),
        "dataset": cfg.data.dataset,
        "arch": OWN_LOOP if own_loop else arch_label(cfg.model.arch),
        "loss": "" if own_loop else cfg.loss.kind,
        "total": cfg.train.steps,
    }, ""


def with_staleness(info: RunInfo, now: float) -> RunInfo:
    """`info` with a live status turned stale once its files have been quiet for STALE_S."""
    status = run_status(info.live_status, now - info.newest if info.newest else 0.0)
    if status == info.status:
        return info
    problem = (NEVER_STARTED if status == STALE else "") if info.live_status == STARTING else info.problem
    return replace(info, status=status, problem=problem)


def _read_tail(folder: RunFolder, info: RunInfo) -> tuple[RunInfo, str]:
    """Step, status, duration, processes and last metric from the end of metrics.jsonl; and what is
    wrong with those lines, if anything ("" when they read well)."""
    path = folder.metrics_path
    lines, problem = _tail_lines(path)
    if lines is None:
        return info, problem
    step, status, wall, metric, processes = info.step, NEW, 0.0, None, info.processes
    metrics = None
    where: dict[int, tuple[str, str]] = {}
    good = torn = foreign = 0
    for line in lines:
        rec, was_torn = parse_line(line)
        torn += was_torn
        if rec is None:
            continue
        kind = rec.get("event") if isinstance(rec, dict) else None
        ev = None
        if kind in _LIFECYCLE_KINDS or kind == System.KIND:
            with contextlib.suppress(RecordError):
                ev = from_record(rec)
        if (kind not in LOGGED and kind != "samples") or (kind in _LIFECYCLE_KINDS and ev is None):
            foreign += 1
            continue
        good += 1
        rec_step = rec.get("step")
        if isinstance(rec_step, int) and kind != Metrics.KIND:  # metrics land late, at an earlier step
            step = max(step, rec_step)
        if isinstance(ev, System):
            where[ev.rank] = (ev.host, ", ".join(ev.devices))
        elif ev is not None:
            if isinstance(ev, RunStarted):
                where = {0: (ev.host, ev.device)}  # until its processes' system lines say more
            status = status_of(ev) or status
            processes = max(1, ev.world_size) if isinstance(ev, RunStarted) else processes
        elif kind == Stats.KIND:
            wall = _number(rec.get("wall")) or wall
            status = status if status != NEW else RUNNING  # the started line may be further back
        elif kind == Metrics.KIND:
            metric = next(
                ((k, float(rec[k])) for k in MAIN_METRICS if _number(rec.get(k)) is not None), metric
            )
            metrics = {
                k: float(v) for k, v in rec.items() if k not in ("event", "step") and _number(v) is not None
            }
    info = replace(
        info,
        step=step,
        live_status=status,
        status=status,
        duration=wall,
        metric=metric,
        metrics=metrics,
        processes=processes,
        hosts=tuple(where[r][0] for r in sorted(where)),
        devices=tuple(where[r][1] for r in sorted(where)),
        newest=max(info.newest, _mtime(path) or 0.0),
    )
    if good == 0 and (torn or foreign):
        return info, f"{path.name} is not a GAN Studio log (its last lines are not run events)"
    if foreign:
        return info, f"{path.name} has {foreign} line(s) near its end that are not GAN Studio events"
    if torn:
        return info, (
            f"{path.name} has {torn} torn line(s) near its end (a process died mid-write); the rest reads"
        )
    return info, ""


def _tail_lines(path: Path) -> tuple[list[bytes] | None, str]:
    """The whole lines in the last TAIL_BYTES of `path`: ([], "") for no file yet, (None, why) for
    one that cannot be read."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - TAIL_BYTES)
            f.seek(start)
            data = f.read(size - start)
    except FileNotFoundError:
        return None, ""
    except OSError as e:
        return None, f"cannot read {path.name}: {describe_os_error(e)}"
    lines = data.split(b"\n")[:-1]  # what follows the last newline is a line being written
    if start > 0 and lines:
        lines = lines[1:]  # the chunk began inside a line
    return [line for line in lines if line.strip()], ""


def _with_heartbeat(folder: RunFolder, info: RunInfo) -> RunInfo:
    """The heartbeat's word on the status: what the run said last, when the log's tail holds no
    start, pause or end (a long run), or a final status the log lacks (a killed writer); and a
    job's number of processes (one step per rank) when its started line is further back."""
    path = folder.heartbeat_path
    try:
        mtime = path.stat().st_mtime
        beat = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return info
    if not isinstance(beat, dict):
        return info
    said = str(beat.get("status", ""))
    ranks = beat.get("rank_steps")
    processes = max(info.processes, len(ranks) if isinstance(ranks, list) else 1)
    status = run_status(info.live_status, said=said)  # its age is judged by with_staleness
    return replace(
        info, live_status=status, status=status, processes=processes, newest=max(info.newest, mtime)
    )


def _looks_like_a_run(folder: RunFolder) -> bool:
    return folder.is_run() or folder.meta_path.exists()


def _nothing_yet(path: Path) -> bool:
    """Whether the folder holds nothing, or only hidden files (the temporary file of an atomic write)."""
    try:
        with os.scandir(path) as entries:
            return all(e.name.startswith(".") for e in entries)
    except OSError:
        return False


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# ----- a folder of runs ------------------------------------------------------------------------


def run_dirs(root: str | Path) -> list[Path]:
    """The folders directly in `root` (each a run, or listed as not one), without hidden ones and
    the trash; [] when `root` does not exist."""
    try:
        entries = list(os.scandir(Path(root).expanduser()))
    except OSError:
        return []
    out = []
    for e in entries:
        with contextlib.suppress(OSError):
            if e.is_dir() and not e.name.startswith("."):
                out.append(Path(e.path))
    return sorted(out)


class RunScanner:
    """Lists the runs under some folders, again and again: a folder is read anew only when one of
    its files changed (a stat each), so a scan of hundreds of idle runs costs milliseconds."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple, RunInfo]] = {}

    def scan(self, roots: list[str | Path], now: float | None = None) -> list[RunInfo]:
        now = time.time() if now is None else now
        seen: dict[Path, RunInfo] = {}
        for root in roots:
            for path in run_dirs(root):
                if path in seen:
                    continue
                sig = _signature(path)
                cached = self._cache.get(path)
                if cached is not None and cached[0] == sig:
                    info = with_staleness(cached[1], now)
                else:
                    info = describe(path, now)
                self._cache[path] = (sig, info)
                seen[path] = info
        for path in list(self._cache):
            if path not in seen:
                del self._cache[path]
        return list(seen.values())


def _signature(path: Path) -> tuple:
    folder = RunFolder(path)
    sig = []
    for p in (folder.meta_path, folder.config_path, folder.metrics_path, folder.heartbeat_path):
        try:
            st = p.stat()
            sig.append((st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append(None)
    return tuple(sig)


def tree(runs: list[RunInfo]) -> list[tuple[int, RunInfo]]:
    """(depth, run) in display order: roots by start time, each followed by its forks (and theirs).
    A fork whose parent is not listed is a root. The parent is found by its path, or, for runs
    moved or synced from another machine (run.json keeps the path it had there), by folder name.

    Paths are resolved (a syscall per part of each path) only for a parent not found as written:
    resolving every run's path on each of the Runs dock's scans held the GUI thread for tens of
    milliseconds with a few hundred runs."""
    by_path = {r.path: r for r in runs}
    by_name = {r.path.name: r for r in runs}
    resolved: dict[Path, RunInfo] | None = None  # made when a parent's path is not found as written
    children: dict[Path, list[RunInfo]] = {}
    roots = []
    for r in runs:
        parent = r.parent_path
        found = None if parent is None else by_path.get(parent)
        if parent is not None and found is None:
            if resolved is None:
                resolved = {_key(x.path): x for x in runs}
            found = resolved.get(_key(parent)) or by_name.get(parent.name)
        if found is not None and found is not r and found.path != r.path:
            children.setdefault(found.path, []).append(r)
        else:
            roots.append(r)
    out: list[tuple[int, RunInfo]] = []
    seen: set[Path] = set()

    def walk(r: RunInfo, depth: int) -> None:
        if r.path in seen:  # a cycle in hand-edited run.json files
            return
        seen.add(r.path)
        out.append((depth, r))
        for c in sorted(children.get(r.path, []), key=_start):
            walk(c, depth + 1)

    for r in sorted(roots, key=_start):
        walk(r, 0)
    return out


def _key(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (a hand-edited parent, say)
        return path


def _start(r: RunInfo) -> tuple:
    return (r.created or 0.0, r.path.name)


# ----- a run as a whole ------------------------------------------------------------------------


def rename(path: str | Path, name: str) -> None:
    """Give a run a display name (in run.json; the folder keeps its name, so a training process
    writing to it, and the forks naming it as their parent, are not disturbed)."""
    name = name.strip()
    if not name:
        raise RunsError("a run's name cannot be empty")
    _write_meta(path, {"name": name})


def set_note(path: str | Path, note: str) -> None:
    """Keep a note with a run (in its run.json)."""
    _write_meta(path, {"note": note.strip()})


def _write_meta(path: str | Path, updates: dict[str, Any]) -> None:
    folder = RunFolder(Path(path))
    if not folder.path.is_dir():
        raise RunsError(f"{folder.path} is not there any more (moved or deleted)")
    problem = folder.version_problem()
    if problem is not None:
        raise RunsError(f"{folder.path} cannot be changed: {problem}")
    try:
        folder.write_meta(updates)
    except RunFolderError as e:
        raise RunsError(str(e)) from None


def trash(path: str | Path, now: float | None = None) -> Path:
    """Move a run folder into the .trash folder beside it (nothing is deleted); returns where it
    went. A run that is training (alive, not stale) is refused, with why."""
    info = describe(path, now)
    why = info.why_not_trash()
    if why:
        raise RunsError(why)
    bin_ = info.path.parent / TRASH
    target = bin_ / info.path.name
    for i in range(1, 1000):
        if not target.exists():
            break
        target = bin_ / f"{info.path.name}-{i}"
    try:
        bin_.mkdir(exist_ok=True)
        os.rename(info.path, target)
    except OSError as e:
        raise RunsError(f"cannot move {info.path} to {bin_}: {describe_os_error(e)}") from None
    return target


# ----- the terminal's table --------------------------------------------------------------------

COLUMNS = (  # the folder first: it tells apart runs of one name (every run of a default config)
    "folder",
    "name",
    "dataset",
    "arch",
    "loss",
    "steps",
    "status",
    "started",
    "duration",
    "metric",
    "note",
)


def row(r: RunInfo, depth: int = 0) -> dict[str, str]:
    """The listed columns of a run as text (the CLI's table and the Runs dock show the same). The
    folder tells apart runs of one name (several runs of a default config share it); a fork's is
    indented under its parent's."""
    return {
        "folder": ("  " * max(0, depth - 1) + "└ " if depth else "") + r.folder,
        "name": r.name,
        "dataset": r.dataset,
        "arch": r.arch,
        "loss": r.loss,
        "steps": r.steps_text(),
        "status": r.status_text(),
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)) if r.created else "",
        "duration": fmt_duration(r.duration),
        "metric": r.metric_text(),
        "note": r.note,
    }


def fmt_duration(seconds: float, missing: str = "", zero: bool = False) -> str:
    """A duration as "m:ss" or "h:mm:ss", for the runs table, the CLI's ETA and the status bar
    alike; `missing` for one not known (NaN, infinite, negative, and 0 unless `zero`)."""
    if (
        seconds != seconds
        or seconds in (float("inf"), float("-inf"))
        or seconds < 0
        or (not seconds and not zero)
    ):
        return missing
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def table(runs: list[RunInfo]) -> str:
    """The runs as a text table, forks under their parents; damaged and foreign folders say why."""
    return text_table([(row(r, depth), r.problem) for depth, r in tree(runs)])


def text_table(rows: list[tuple[dict[str, str], str]]) -> str:
    """(row, problem) pairs as the terminal's table: COLUMNS aligned, a problem under its row."""
    widths = {c: max([len(c), *(len(x[c]) for x, _ in rows)]) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip()]
    for x, problem in rows:
        lines.append("  ".join(x[c].ljust(widths[c]) for c in COLUMNS).rstrip())
        if problem:
            lines.append(f"    ! {problem}")
    return "\n".join(lines)
