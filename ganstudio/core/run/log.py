"""A run folder's log, metrics.jsonl: written from the event stream, read back (whole or as it grows).

`RunWriter` is one listener on a run's events: it appends each event's record (events.py says what
a line means) and saves sample files. `LogReader` turns the file back into the same events, fast
enough for a million lines (stats come out as column blocks; a long first read parses half of it in
a helper process), and `read_run` builds a folder's whole state with it. A live folder is followed
by follow.py, with this reader.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import subprocess
import sys
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ganstudio.core.config import KEYS, Config, is_2d, with_values
from ganstudio.core.disk import describe_os_error, free_space
from ganstudio.core.run.events import (
    Alert,
    CheckpointSaved,
    Event,
    HyperparamsChanged,
    RecordError,
    Samples,
    SourceStatus,
    Stats,
    StatsBlock,
    from_record,
)
from ganstudio.core.run.folder import RunFolder, RunFolderError, thin
from ganstudio.core.run.state import RunState
from ganstudio.core.run.write_failures import WriteFailures
from ganstudio.core.train import threads
from ganstudio.core.train.allocator import release_free_memory

LINE_START = b'{"event": '  # every line this writer makes starts so: used to recover torn lines
PARSE_CHUNK = 16_384  # lines parsed at a time (LogReader._items)
PARALLEL_MIN_BYTES = 32 * 2**20  # a first read this long parses its second half in a helper process
HELPER_TIMEOUT_S = 300.0
TRIM_AFTER_LINES = 50_000  # a read this long hands the parse's freed memory back (allocator.py)
TIMELINE_LIMIT = 400  # sample grids read when a folder is opened (thinned evenly, the last kept)


class LogWriteError(RunFolderError):
    """metrics.jsonl itself could not be written; the lines are kept and retried on the next write."""


def _dumps(rec: dict[str, Any]) -> str:
    return json.dumps(rec, ensure_ascii=False) + "\n"


class RunWriter:
    """Writes a run folder from events. Call `handle(event)` for every event of the run.

    A sample or config file that cannot be written (a full disk, say) becomes an Alert that
    `handle` returns for the caller to pass on: the first of a streak of failures of its kind says
    what and where, the ones after it are counted in `failures` (write_failures.py), and the count is
    told when that kind is written again. A line that cannot be appended to metrics.jsonl raises
    LogWriteError and is kept, to be written before the next one (nothing is lost while the process
    lives)."""

    def __init__(
        self,
        folder: RunFolder,
        cfg: Config,
        reference_points: np.ndarray | None = None,
        failures: WriteFailures | None = None,
    ):
        self.folder = folder
        self.cfg = cfg
        self._reference = reference_points
        self.failures = failures if failures is not None else WriteFailures()
        self._pending = b""
        try:
            for d in (folder.path, folder.samples_dir, folder.checkpoints_dir):
                d.mkdir(parents=True, exist_ok=True)
            folder.save_config(cfg)
            self._fd = os.open(folder.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except (OSError, ValueError) as e:
            raise RunFolderError(
                f"cannot write the run folder {folder.path}: {describe_os_error(e)}. "
                "Choose another runs folder (log.out), or make the folder writable"
            ) from None
        # A process that died mid-line left a torn last line: end it, so the next line stands alone.
        with contextlib.suppress(OSError):
            size = os.fstat(self._fd).st_size
            if size:
                with open(folder.metrics_path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        self._pending = b"\n"

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError, LogWriteError):
                self._flush()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _flush(self) -> None:
        while self._pending:
            try:
                n = os.write(self._fd, self._pending)
            except OSError as e:
                space = free_space(self.folder.path)
                raise LogWriteError(
                    f"cannot write {self.folder.metrics_path}: {describe_os_error(e)}"
                    f"{f' ({space})' if space else ''}. Training's log needs it: free some space "
                    "or make the folder writable; what was not written is kept until then"
                ) from None
            self._pending = self._pending[n:]

    def _append(self, text: str) -> None:
        self._pending += text.encode("utf-8")
        self._flush()

    def handle(self, ev: Event) -> list[Event]:
        extra: list[Event] = []
        if isinstance(ev, Samples):  # files first, then the line that names them
            try:
                png = self.folder.write_samples(ev.step, ev.grid, ev.points, self._reference, _lab_arrays(ev))
            except (OSError, ValueError) as e:
                if not self.failures.failed("samples", ev.step):
                    return []
                return [
                    Alert(
                        step=ev.step,
                        kind="disk",
                        message=(
                            f"the samples of step {ev.step} were not saved in {self.folder.samples_dir}: "
                            f"{describe_os_error(e)}. Training goes on; free some space to keep them (the "
                            "sample writes that fail after this one are counted, not each told)."
                        ),
                    )
                ]
            extra.extend(_told(self.failures.succeeded("samples", ev.step)))
            rec = ev.record()
            rec["file"] = self.folder.relative(png)
        elif isinstance(ev, HyperparamsChanged):
            # A loop of the user's own (core/api) also changes keys of its own: its log line says
            # them, config.toml holds GAN Studio's.
            self.cfg = with_values(self.cfg, {k: new for k, (_, new) in ev.changes.items() if k in KEYS})
            try:
                self.folder.save_config(self.cfg)
            except RunFolderError as e:
                if self.failures.failed("config", ev.step):
                    extra.append(
                        Alert(step=ev.step, kind="disk", message=f"{e}; the change is in metrics.jsonl")
                    )
            else:
                extra.extend(_told(self.failures.succeeded("config", ev.step)))
            rec = ev.record()
        elif isinstance(ev, CheckpointSaved):
            rec = ev.record()
            rec["path"] = self.folder.relative(ev.path)
        else:
            record = getattr(ev, "record", None)
            if record is None:  # read-side events (heartbeat, stale, ...) are not logged
                return extra
            rec = record()
        self._append(_dumps(rec))
        return extra

    def write_history(self, state: RunState) -> None:
        """Replay a resumed run's earlier stats and logged events, so this folder holds its whole
        story (its checkpoints, alerts and pauses included)."""
        h = state.history
        steps, walls, epochs = h.steps(), h.walls(), h.epochs()
        series = {k: h.series(k) for k in h.keys}
        lines = []
        for i in range(len(h)):
            rec = {
                "event": Stats.KIND,
                "step": int(steps[i]),
                "epoch": float(epochs[i]),
                "wall": float(walls[i]),
            }
            rec.update({k: _finite_or_none(v[i]) for k, v in series.items()})
            lines.append(_dumps(rec))
        for ev in state.log:
            rec = ev.record()
            lines.append(_dumps(rec))
        self._append("".join(lines))


def _told(alert: Alert | None) -> list[Event]:
    return [alert] if alert is not None else []


def _finite_or_none(v: float) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _lab_arrays(ev: Samples) -> dict[str, Any] | None:
    if ev.field is None or ev.extent is None:
        return None
    return {
        "field": ev.field,
        "extent": np.asarray(ev.extent, dtype=np.float64),
        "arrows": ev.arrows if ev.arrows is not None else np.zeros((0, 2), np.float32),
        "field_is_probability": np.asarray(bool(ev.field_is_probability)),
    }


# ----- reading ---------------------------------------------------------------------------------


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every complete line of a metrics.jsonl file as a dict (a partly written last line is ignored)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out


class LogReader:
    """Reads a run folder's metrics.jsonl into events: all of it on the first `read()`, then what
    was appended since. Consecutive stats lines come out as one StatsBlock; samples lines as
    Samples with the grids (or points) loaded from the files they name."""

    def __init__(self, folder: RunFolder, points: bool | None = None, timeline_limit: int = TIMELINE_LIMIT):
        self.folder = folder
        self._points = points
        self._limit = timeline_limit
        self._offset = 0
        self._tail = b""
        self._identity: tuple[int, int] | None = None
        self._first = True
        self.lines = 0
        self.damaged = 0  # lines that could not be read (torn, foreign, malformed)

    @property
    def points(self) -> bool:
        if self._points is None:
            cfg, _ = self.folder.try_config()
            self._points = bool(cfg is not None and is_2d(cfg))
        return self._points

    def reset(self) -> None:
        self._offset, self._tail, self._identity, self._first = 0, b"", None, True
        self.lines = self.damaged = 0

    def read(self) -> list[Event]:
        """New events; [SourceStatus("rewritten"), ...all events again] when the file was replaced
        or truncated; raises FileNotFoundError while it does not exist."""
        path = self.folder.metrics_path
        st = os.stat(path)
        identity = (st.st_dev, st.st_ino)
        out: list[Event] = []
        if self._identity is not None and (identity != self._identity or st.st_size < self._offset):
            self.reset()
            out.append(
                SourceStatus("rewritten", f"{path} was rewritten or truncated; read again from the start")
            )
        self._identity = identity
        if st.st_size == self._offset:
            return out
        start = self._offset
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(st.st_size - start)
        self._offset += len(data)
        helper = None
        if not self._tail and len(data) >= PARALLEL_MIN_BYTES:
            # A long log: a helper process parses the second half while this one parses the first.
            mid = data.rfind(b"\n", 0, len(data) // 2) + 1
            end = data.rfind(b"\n") + 1
            if 0 < mid < end:
                helper = _Helper.start(path, start + mid, start + end)
        if helper is not None:
            second = data[mid:end]
            lines = data[:mid].split(b"\n")
            lines.pop()  # after the first half's last newline: nothing
            self._tail = data[end:]  # a line still being written
        else:
            data = self._tail + data if self._tail else data
            lines = data.split(b"\n")
            self._tail = lines.pop()  # what follows the last newline: a line still being written
        del data
        try:
            items = self._items(lines)
            count = len(lines)
            if helper is not None:
                done = helper.result()
                if done is None:  # it failed: this process parses that half too
                    second_lines = second.split(b"\n")
                    second_lines.pop()
                    done = self._items(second_lines), 0, len(second_lines)
                    del second_lines
                del second
                items += done[0]
                self.damaged += done[1]
                count += done[2]
        finally:
            if helper is not None:
                helper.close()  # never left running, whatever happened here
        del lines
        self.lines += count
        out.extend(self._events(items))
        if count >= TRIM_AFTER_LINES:
            # Parsing a long log peaks at a dict per line; freed, glibc would keep those pages
            # (a million lines: ~600 MB of a 1.3 GB app after opening).
            del items
            release_free_memory()
        return out

    def _items(self, lines: list[bytes]) -> list[StatsBlock | tuple[Any, dict]]:
        """Lines to StatsBlocks and (kind, record) of the other lines, PARSE_CHUNK lines at a time:
        each chunk's runs of stats lines become StatsBlocks at once, so the dicts of a long log never
        all exist together (a million of them took a gigabyte, and building the columns from fewer,
        recently made dicts is faster)."""
        items: list[StatsBlock | tuple[Any, dict]] = []
        enabled = gc.isenabled()
        gc.disable()  # a million small dicts would trigger the cycle collector hundreds of times
        try:
            for a in range(0, len(lines), PARSE_CHUNK):
                records, kinds = self._records(lines[a : a + PARSE_CHUNK])
                start = 0  # the first line of the run of stats lines before the current record
                for i in [i for i, kind in enumerate(kinds) if kind != Stats.KIND]:
                    if i > start:
                        items.append(_stats_block(records[start:i]))
                    start = i + 1
                    items.append((kinds[i], records[i]))
                if len(records) > start:
                    items.append(_stats_block(records[start:]))
                del records, kinds
        finally:
            if enabled:
                gc.enable()
        return items

    def _records(self, lines: list[bytes]) -> tuple[list[dict], list[Any]]:
        try:  # the usual case, at C speed: every line a whole JSON object
            records = [orjson.loads(line) for line in lines]
            return records, [r.get("event") for r in records]
        except (ValueError, AttributeError):  # a torn line, a line that is not an object
            records = [rec for rec in map(self._loads, lines) if rec is not None]
            return records, [r.get("event") for r in records]

    def _loads(self, line: bytes) -> dict | None:
        if not line.strip():
            return None
        rec, torn = parse_line(line)
        self.damaged += torn
        if rec is not None and not isinstance(rec, dict):
            self.damaged += 1
            return None
        return rec

    def _events(self, items: list[StatsBlock | tuple[Any, dict]]) -> list[Event]:
        out: list[Event] = []
        if self._first:  # a folder's first read: its sample grids, evenly thinned
            count = sum(1 for it in items if isinstance(it, tuple) and it[0] == Samples.KIND)
            keep = set(thin(count, self._limit)) if count > self._limit else None
        else:
            keep = None
        self._first = False
        k = 0
        for it in items:
            if isinstance(it, StatsBlock):
                out.append(it)
                continue
            kind, rec = it
            if kind == Samples.KIND:
                if keep is None or k in keep:
                    ev = self._samples(rec)
                    if ev is not None:
                        out.append(ev)
                k += 1
                continue
            try:
                out.append(from_record(rec))
            except RecordError:
                self.damaged += 1
        return out

    def _samples(self, rec: dict) -> Samples | None:
        try:
            step = int(rec["step"])
            logged = rec.get("file") or self.folder.relative(self.folder.sample_path(step))
            png = self.folder.resolve(str(logged))
        except (KeyError, TypeError, ValueError):
            self.damaged += 1
            return None
        arrays = self.folder.read_samples(png, self.points)
        if arrays is None:
            return None
        return Samples(step=step, **arrays)


def parse_line(line: bytes) -> tuple[Any, bool]:
    """(a line's JSON value or None, whether it was torn). A torn line (a process died mid-write)
    runs into the next one, which is whole: that one is kept. Every reader of the log uses this."""
    try:
        return orjson.loads(line), False
    except orjson.JSONDecodeError:
        pass
    cut = line.rfind(LINE_START, 1)
    if cut > 0:
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(line[cut:]), True
    return None, True


def _stats_block(rows: list[dict]) -> StatsBlock:
    keys: dict[str, None] = {}
    for r in rows[:: max(1, len(rows) // 64)] + rows[-1:]:  # the usual case: every row has one key set
        keys.update(dict.fromkeys(r))
    if set(map(len, rows)) != {len(keys)}:
        for r in rows:
            keys.update(dict.fromkeys(r))
    keys.pop("event", None)

    names = list(keys)
    table = _table(rows, names)

    def column(key: str, dtype: Any) -> np.ndarray:
        if table is not None:
            return table[:, names.index(key)]  # a view: History copies what it keeps
        # None (a NaN written as null, or a key a row lacks) becomes NaN.
        return np.array([r.get(key) for r in rows], dtype=dtype)

    steps = column("step", np.float64).astype(np.int64)
    epochs = np.nan_to_num(column("epoch", np.float64)) if "epoch" in keys else np.zeros(len(rows))
    walls = np.nan_to_num(column("wall", np.float64)) if "wall" in keys else np.zeros(len(rows))
    values = {}
    for key in keys:
        if key in ("step", "epoch", "wall"):
            continue
        try:
            values[key] = column(key, np.float64)
        except (TypeError, ValueError):  # a foreign column of text: not a stat
            continue
    return StatsBlock(steps=steps, epochs=epochs, walls=walls, values=values)


def _table(rows: list[dict], names: list[str]) -> np.ndarray | None:
    """rows x names as float64 in one pass, when every row has every name as a number (the usual
    case, ~4x faster than a column at a time); None when one does not (a null, a missing key, a
    text value): the caller then reads column by column."""
    if len(names) < 2:
        return None
    try:
        flat = np.fromiter(
            chain.from_iterable(map(itemgetter(*names), rows)), dtype=np.float64, count=len(rows) * len(names)
        )
    except (KeyError, TypeError, ValueError):
        return None
    return flat.reshape(len(rows), len(names))


class _Helper:
    """A helper process that parses one byte range of a metrics.jsonl (`parse_range_main`), so a
    long log's first read uses two cores. `result()` is None when it could not: the caller then
    parses that range itself."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc

    @classmethod
    def start(cls, path: Path, a: int, b: int) -> _Helper | None:
        if getattr(sys, "frozen", False) or threads.usable_cores() < 2:
            return None
        root = str(Path(__file__).resolve().parents[2])  # ganstudio's parent: a source checkout too
        paths = [root, os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _HELPER, str(path), str(a), str(b)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError:
            return None
        return cls(proc)

    def result(self) -> tuple[list, int, int] | None:
        """(items, damaged lines, lines) of the range, or None."""
        try:
            out, _ = self.proc.communicate(timeout=HELPER_TIMEOUT_S)
            if self.proc.returncode != 0:
                return None
            items, damaged, count = pickle.loads(out)
            return list(items), int(damaged), int(count)
        except Exception:  # a timeout, a truncated answer: parse it here instead
            return None
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_HELPER = "from ganstudio.core.run.log import parse_range_main; parse_range_main()"


def parse_range_main() -> None:
    """The helper process: argv = [path, a, b]; writes the pickled (items, damaged, lines) of the
    whole lines in bytes a..b-1 of the log to stdout (our own process's answer, read back by
    `_Helper.result`)."""
    path, a, b = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with open(path, "rb") as f:
        f.seek(a)
        data = f.read(b - a)
    if len(data) != b - a or not data.endswith(b"\n"):
        sys.exit(1)  # the file changed under us: the parent reads it itself
    lines = data.split(b"\n")
    lines.pop()
    del data
    reader = LogReader(RunFolder(path.parent))
    items = reader._items(lines)
    answer = (items, reader.damaged, len(lines))
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


def read_run(folder: RunFolder) -> RunState:
    """A run folder's whole state, as a follower would have built it."""
    cfg, _ = folder.try_config()
    state = RunState(cfg)
    for ev in LogReader(folder).read():
        state.apply(ev)
    return state
