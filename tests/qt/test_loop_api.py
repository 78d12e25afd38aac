"""A hand-written training loop (ganstudio.init in a script of its own) opened by the real window:
followed, paused (the loop blocks in tick), its optim.lr_g edited (the loop's optimizer changes) and
stopped (the loop ends), all through its run folder, as for `ganstudio train`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLineEdit

from ganstudio.core.run.folder import RunFolder
from ganstudio.core.run.log import read_metrics
from tests.qt.conftest import WAIT_MS

ROOT = Path(__file__).resolve().parents[2]

# The loop logs the learning rate its own optimizer has (lr_seen) and the steps it has taken.
LOOP = """
import sys, time
import torch
import ganstudio

G = torch.nn.Linear(4, 4)
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
config = {"log.every": 2, "my.temperature": 1.0, "my.blocks": 3}
run = ganstudio.init(out=sys.argv[1], name="my-loop", config=config, live=["my.temperature"])
run.watch(g_optimizer=opt_g)
print(run.folder.path, flush=True)
with run:
    step = 0
    while True:
        step += 1
        loss = G(torch.randn(8, 4)).pow(2).mean()
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        run.log(
            step, loss_g=loss.detach(), lr_seen=opt_g.param_groups[0]["lr"],
            temperature_seen=run.config["my.temperature"],
        )
        time.sleep(0.005)
        if not run.tick(step):
            break
print("ended", step, flush=True)
"""


def action(window, name: str) -> QAction:
    a = window.findChild(QAction, name)
    assert a is not None, name
    return a


def stats(folder: RunFolder) -> list[dict]:
    return [r for r in read_metrics(folder.metrics_path) if r["event"] == "stats"]


def test_a_hand_written_loop_is_followed_paused_edited_and_stopped(qtbot, make_window, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", LOOP, str(tmp_path / "runs")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        folder = RunFolder(proc.stdout.readline().strip())
        window = make_window()
        s = window.session
        qtbot.waitUntil(lambda: folder.metrics_path.exists() and len(stats(folder)) >= 4, timeout=WAIT_MS)
        window.open_run(folder.path)
        qtbot.waitUntil(lambda: s.state == "running" and len(s.history) >= 4, timeout=WAIT_MS)
        assert s.run.pid == proc.pid and "loss_g" in s.history.keys

        action(window, "action_pause").trigger()
        qtbot.waitUntil(lambda: s.state == "paused", timeout=WAIT_MS)
        blocked = stats(folder)[-1]["step"]
        qtbot.wait(600)  # a paused loop takes no step (a negative check needs some time)
        assert stats(folder)[-1]["step"] == blocked and proc.poll() is None

        edit = window.findChild(QLineEdit, "optim.lr_g")
        assert edit.isEnabled()
        edit.selectAll()
        qtbot.keyClicks(edit, "0.001")
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        qtbot.waitUntil(
            lambda: s.config.optim.lr_g == 0.001 and not window.hyperparams.pending(), timeout=WAIT_MS
        )
        # The loop's own keys: shown with its values, editable where it declared them live; of
        # GAN Studio's live keys, only those it takes (its watched optimizers', health.*, ...).
        keys = window.hyperparams.loop_keys()
        assert keys.isVisible() and keys.values() == {"my.blocks": 3, "my.temperature": 1.0}
        assert keys.field("my.temperature").isEnabled() and not keys.field("my.blocks").isEnabled()
        gp = window.findChild(QLineEdit, "loss.gp_weight")
        assert not gp.isEnabled() and "does not take live edits" in gp.toolTip()
        temperature = keys.field("my.temperature")
        temperature.setText("0.5")
        temperature.editingFinished.emit()
        qtbot.waitUntil(lambda: keys.values()["my.temperature"] == 0.5, timeout=WAIT_MS)  # run.json says so
        action(window, "action_pause").trigger()  # Resume
        qtbot.waitUntil(lambda: s.state == "running", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: stats(folder)[-1]["lr_seen"] == 0.001, timeout=WAIT_MS)
        after = [r for r in stats(folder) if r["step"] > blocked]
        assert after and all(r["lr_seen"] == r["lr_g"] == 0.001 for r in after)  # the optimizer's own
        assert all(r["temperature_seen"] == 0.5 for r in after)  # run.config, inside the loop

        action(window, "action_stop").trigger()
        qtbot.waitUntil(lambda: s.run.status == "stopped", timeout=WAIT_MS)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.startswith("ended")
        assert s.state == "stopped"
        # Ended: nothing takes an edit now, its own keys included.
        assert not keys.isEnabled() and not window.findChild(QLineEdit, "optim.lr_g").isEnabled()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
