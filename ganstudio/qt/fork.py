"""Forks from the app: a dialog for the keys a fork may change, and the processes that train forks.

A fork is `ganstudio train --fork CKPT --set KEY=VALUE ...` in its own process (QProcess, started
from the GUI thread without blocking it): it continues the checkpoint exactly, with the changed
keys, in a new run folder beside its parent that records the parent. The Runs dock lists it (under
its parent) and ticks it, so it is drawn on the plots as it trains. "What if" is two such forks of
the current step, trained at once: the operating system shares the cores between them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.config import (
    FORK_KEYS,
    KEYS,
    LIVE_KEYS,
    Config,
    ConfigError,
    apply_overrides,
    get,
    live_update,
)

#: The keys the dialog offers: what a fork may change that is about training (not where it goes).
SHOWN_KEYS = tuple(k for k in KEYS if k in LIVE_KEYS or k == "train.seed")
STOP_WAIT_MS = 15_000  # a fork still training when the window closes: time to save and stop
EDIT_COLUMN_MIN = 90  # px: a fork's column, wide enough to type a value like 0.00015
EDITED, EDITED_TEXT = QColor("#fde68a"), QColor("#1f2937")  # amber, dark text: in any theme


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def fork_overrides(cfg: Config, edited: dict[str, str]) -> list[str]:
    """The `--set` arguments of a fork of a run with config `cfg`, from the dialog's texts by key:
    the keys whose value changed. ConfigError (every problem, by key) for a value a fork cannot
    take."""
    overrides = [f"{k}={v.strip()}" for k, v in edited.items() if v.strip() != _text(get(cfg, k))]
    new = apply_overrides(cfg, overrides)
    live_update(cfg, new, allowed=FORK_KEYS, why="fork")
    return overrides


class ForkDialog(QDialog):
    """The keys a fork may change (the live ones, the loss, train.seed) with the values the fork
    starts from (`cfg`: the checkpoint's, not the run's now), and a column per fork to edit. A value
    changed from the first column is highlighted; OK stays disabled while one is invalid, with the
    reason shown."""

    def __init__(
        self, cfg: Config, forks: int, title: str, parent: QWidget | None = None, base_label: str = "now"
    ):
        super().__init__(parent)
        self.setObjectName("fork_dialog")
        self.setWindowTitle(title)
        self._cfg = cfg
        self._forks = forks
        self._base = {key: _text(get(cfg, key)) for key in SHOWN_KEYS}
        self.table = QTableWidget(len(SHOWN_KEYS), 1 + forks, objectName="fork_table")
        forks_named = ["fork"] if forks == 1 else [f"fork {chr(ord('A') + i)}" for i in range(forks)]
        names = [base_label, *forks_named]
        self.table.setHorizontalHeaderLabels(names)
        self.table.setVerticalHeaderLabels(list(SHOWN_KEYS))
        for r, key in enumerate(SHOWN_KEYS):
            now = QTableWidgetItem(self._base[key])
            now.setFlags(now.flags() & ~Qt.ItemFlag.ItemIsEditable)
            now.setToolTip(f"{key} at the checkpoint the forks start from")
            now.setForeground(QBrush(QColor("#6b7280")))  # grey: read only
            self.table.setItem(r, 0, now)
            for c in range(1, forks + 1):
                item = QTableWidgetItem(self._base[key])
                item.setToolTip(KEYS[key].help)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        for c in range(1, forks + 1):  # room to type a longer value than the one shown
            header.resizeSection(c, max(header.sectionSize(c), EDIT_COLUMN_MIN))
        self.problem = QLabel(objectName="fork_problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c2410c")
        buttons = QDialogButtonBox.StandardButton
        self.buttons = QDialogButtonBox(buttons.Ok | buttons.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Fork and Train")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        intro = QLabel(
            f"Each fork continues exactly from the checkpoint, with the values you change "
            f"here (highlighted); the \u201c{base_label}\u201d column is what it holds. "
            "Keys that shape the models or the data cannot change."
        )
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.resize(self._table_width(), 560)
        self.table.itemChanged.connect(self._on_table_item_changed)

    def _table_width(self) -> int:
        """Wide enough for every column, the key names and a scroll bar: no fork's column cut off."""
        t = self.table
        columns = sum(t.horizontalHeader().sectionSize(c) for c in range(t.columnCount()))
        scroll = t.verticalScrollBar().sizeHint().width()
        margins = self.layout().contentsMargins()
        return (
            columns
            + t.verticalHeader().sizeHint().width()
            + scroll
            + 2 * t.frameWidth()
            + margins.left()
            + margins.right()
            + 4
        )

    def overrides(self) -> list[list[str]] | None:
        """Per fork, its `--set` arguments; None while a value is invalid (the reason is shown)."""
        out, problems = [], []
        for c in range(1, self._forks + 1):
            edited = {key: self.table.item(r, c).text() for r, key in enumerate(SHOWN_KEYS)}
            try:
                out.append(fork_overrides(self._cfg, edited))
            except ConfigError as e:
                label = self.table.horizontalHeaderItem(c).text()
                problems += [f"{label}: {p}" for p in e.problems]
        self.problem.setText("\n".join(problems))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problems)
        return None if problems else out

    @Slot(QTableWidgetItem)
    def _on_table_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() > 0:
            changed = item.text().strip() != self._base[SHOWN_KEYS[item.row()]]
            with QSignalBlocker(self.table):  # restyling is no edit
                item.setBackground(QBrush(EDITED) if changed else QBrush())
                item.setForeground(QBrush(EDITED_TEXT) if changed else QBrush())
                font = item.font()
                font.setBold(changed)
                item.setFont(font)
        self.overrides()


class ForkLauncher(QObject):
    """Starts training processes of the app's (`ganstudio train --fork`, and torchrun jobs) and
    keeps them until they end."""

    started = Signal(str)  # the checkpoint forked
    failed = Signal(str)  # what went wrong, for a dialog
    finished = Signal(str, int)  # the checkpoint, the exit code

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._procs: list[QProcess] = []

    def running(self) -> int:
        return sum(p.state() != QProcess.ProcessState.NotRunning for p in self._procs)

    def fork(
        self, checkpoint: str | Path, overrides: list[str], name: str, model_file: str | None = None
    ) -> QProcess:
        """`model_file`: the file to build a checkpoint of your own model with (the user agreed)."""
        checkpoint = str(Path(checkpoint).resolve())
        args = ["-m", "ganstudio", "train", "--fork", checkpoint]
        if model_file is not None:
            args += ["--model-file", model_file]
        for o in overrides:
            args += ["--set", o]
        args += ["--set", f"log.name={name}", "--quiet"]
        return self._start(args, checkpoint, f"The fork of {Path(checkpoint).name}")

    def train(self, run_dir: str | Path, threads: int) -> QProcess:
        """`ganstudio train` of the config in `run_dir` (made, with its config.toml, by the caller),
        on at most `threads` CPU threads: a run of the app's own, in a process of its own."""
        args = ["-m", "ganstudio", "train", "--run-dir", str(run_dir)]
        args += ["--config", str(Path(run_dir) / "config.toml"), "--quiet"]
        env = QProcessEnvironment.systemEnvironment()
        env.insert("OMP_NUM_THREADS", str(threads))
        return self._start(args, str(run_dir), f"Training in {Path(run_dir).name}", env, announce=False)

    def job(self, processes: int, run_dir: str | Path, threads: int) -> QProcess:
        """A torchrun job of `processes` on this machine, training in `run_dir` (made, with its
        config.toml, by the caller): PyTorch's own launcher, as a user would run it."""
        args = [
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "ganstudio",
            "train",
            "--run-dir",
            str(run_dir),
            "--config",
            str(Path(run_dir) / "config.toml"),
            "--quiet",
        ]
        env = QProcessEnvironment.systemEnvironment()
        env.insert("OMP_NUM_THREADS", str(threads))  # the processes share this machine's cores
        return self._start(args, str(run_dir), f"The job in {Path(run_dir).name}", env, announce=False)

    def _start(self, args: list[str], key: str, what: str, env=None, announce: bool = True) -> QProcess:
        proc = QProcess(self)
        proc.setProgram(sys.executable)
        proc.setArguments(args)
        proc.setProperty("what", what)
        if env is not None:
            proc.setProcessEnvironment(env)
        proc.setStandardOutputFile(QProcess.nullDevice())
        # stderr is read as it comes (a full pipe would stall the fork), its end kept for an error.
        proc.setProperty("stderr_tail", "")
        proc.readyReadStandardError.connect(lambda p=proc: self._on_stderr(p))
        proc.finished.connect(lambda code, _status, p=proc, c=key: self._on_finished(p, c, code))
        proc.errorOccurred.connect(lambda error, p=proc: self._on_error(p, error))
        self._procs.append(proc)
        proc.start()
        if announce:
            self.started.emit(key)
        return proc

    @staticmethod
    def _on_stderr(proc: QProcess) -> None:
        new = bytes(proc.readAllStandardError().data()).decode("utf-8", "replace")
        text = proc.property("stderr_tail") + new
        proc.setProperty("stderr_tail", text[-4000:])

    def _on_finished(self, proc: QProcess, checkpoint: str, code: int) -> None:
        self._on_stderr(proc)
        err = proc.property("stderr_tail")
        if code not in (0, 130, 143):
            last = next(
                (line for line in reversed(err.splitlines()) if line.startswith("ganstudio: error")),
                err.strip().splitlines()[-1] if err.strip() else f"exit code {code}",
            )
            why = re.sub("^ganstudio: error: ", "", last)
            self.failed.emit(f"{proc.property('what')} stopped: {why}")
        self.finished.emit(checkpoint, code)
        if proc in self._procs:
            self._procs.remove(proc)
        proc.deleteLater()

    def _on_error(self, proc: QProcess, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed.emit(f"{proc.property('what')} could not start: {proc.errorString()}")

    def shutdown(self) -> None:
        """Forks still training are asked to stop (they save a checkpoint first, as on SIGTERM),
        then waited for."""
        for proc in list(self._procs):
            if proc.state() != QProcess.ProcessState.NotRunning:
                proc.terminate()
        for proc in list(self._procs):
            if proc.state() != QProcess.ProcessState.NotRunning and not proc.waitForFinished(STOP_WAIT_MS):
                proc.kill()
                proc.waitForFinished(2000)
