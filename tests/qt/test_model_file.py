"""Your own model in the app: the field takes FILE.py:FUNCTION and says which file it imports, with
its hash; a new run trains it; a checkpoint of it is opened, forked or continued only after the
user agrees to import its file (the recorded one when its hash still matches, the run folder's copy
or a file of their choice), and declining changes nothing."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QComboBox, QLabel

from ganstudio.core.config import with_values
from ganstudio.core.run.driver import RunDriver
from tests.qt.conftest import TINY as TINY_KEYS
from tests.qt.conftest import WAIT_MS, tiny_config
from tests.qt.test_main_window import action, field

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_gan.py"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "code" / "my_gan.py"
    path.parent.mkdir()
    shutil.copy(EXAMPLE, path)
    return path


@pytest.fixture
def user_run(tmp_path, model_file, warm) -> Path:
    """A 10-step run of the example model file, written by the core alone (checkpoint at 10)."""
    cfg = tiny_config(tmp_path / "made", train__steps=10, model__arch=f"{model_file}:build")
    driver = RunDriver(cfg, steer=False)
    driver.prepare()
    for _ in driver.events():
        pass
    driver.close()
    return driver.folder.path


def asked(window) -> list:
    """Replace the window's question with a recorder that answers with the recorded file."""
    questions = []

    def answer(check):
        questions.append(check)
        return check.recorded if window.answer == "yes" else None

    window.answer = "yes"
    window.ask_model_code = answer
    return questions


def test_the_arch_field_takes_a_model_file_and_says_what_it_imports(qtbot, make_window, model_file, tmp_path):
    window = make_window()
    combo = field(window, "model.arch")
    assert isinstance(combo, QComboBox) and combo.isEditable()
    with qtbot.waitSignal(window.hyperparams.config_edited) as edited:
        combo.setEditText(f"{model_file}:build")
        combo.lineEdit().editingFinished.emit()
    assert edited.args[0].model.arch == f"{model_file}:build"
    assert window.session.config.model.arch == f"{model_file}:build"
    assert f"Imports {model_file}" in combo.toolTip() and sha(model_file) in combo.toolTip()
    # A file that is not there: said at the field, and nothing is sent.
    combo.setEditText(f"{tmp_path / 'nowhere.py'}:build")
    combo.lineEdit().editingFinished.emit()
    assert "no file" in window.hyperparams.errors()["model.arch"]
    assert window.session.config.model.arch == f"{model_file}:build"
    # Back to a built-in by its name.
    combo.setCurrentIndex(combo.findData("mlp"))  # picked from the list
    combo.activated.emit(combo.currentIndex())
    assert window.session.config.model.arch == "mlp" and not window.hyperparams.errors()


def test_a_new_run_of_a_model_file_trains_in_the_window(qtbot, make_window, model_file):
    window = make_window(train__steps=6, model__arch=f"{model_file}:build")
    questions = asked(window)
    action(window, "action_start").trigger()
    s = window.session
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 6, timeout=WAIT_MS)
    assert questions == []  # the user named this file: nothing to ask
    assert s.trainer.model_ref.sha256 == sha(model_file)
    assert (s.run_dir / "model" / "my_gan.py").read_bytes() == model_file.read_bytes()


def test_a_checkpoint_of_a_model_file_opens_only_after_a_yes(qtbot, make_window, user_run, model_file):
    window = make_window()
    s = window.session
    questions = asked(window)
    checkpoint = user_run / "checkpoints" / "latest.pt"

    window.answer = "no"
    s.open_checkpoint(checkpoint)
    qtbot.waitUntil(lambda: not s.busy and len(questions) == 1, timeout=WAIT_MS)
    check = questions[0]
    assert check.path == model_file and check.matches and check.recorded.sha256 == sha(model_file)
    assert s.trainer is None and s.state == "idle"  # declined: nothing opened, nothing imported
    assert "was not opened" in window.statusBar().currentMessage()

    window.answer = "yes"
    s.open_checkpoint(checkpoint)
    qtbot.waitUntil(lambda: s.trainer is not None and s.state == "stopped", timeout=WAIT_MS)
    assert len(questions) == 2 and s.trainer.step == 10 and s.trainer.model_ref == questions[1].recorded
    # Continued here: it trains on, in a new run folder that keeps the file too.
    s.set_config(with_values(s.config, {"train.steps": 12}))
    action(window, "action_start").trigger()
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 12, timeout=WAIT_MS)
    assert (s.run_dir / "model" / "my_gan.py").read_bytes() == model_file.read_bytes()


def test_a_changed_model_file_is_named_with_both_paths_and_its_copy(qtbot, make_window, user_run, model_file):
    window = make_window()
    s = window.session
    questions = asked(window)
    model_file.write_text(model_file.read_text() + "\n# edited since\n")
    window.answer = "no"
    s.open_checkpoint(user_run / "checkpoints" / "latest.pt")
    qtbot.waitUntil(lambda: not s.busy and len(questions) == 1, timeout=WAIT_MS)
    check = questions[0]
    assert not check.matches and check.copy == user_run / "model" / "my_gan.py"
    problem = check.problem("another file")
    assert str(model_file) in problem and str(check.copy) in problem
    assert s.trainer is None


def test_a_fork_of_a_model_file_checkpoint_asks_and_passes_the_file(qtbot, make_window, user_run, model_file):
    window = make_window()
    questions = asked(window)
    forks = []
    window.launcher.forks.fork = lambda ckpt, overrides, name, model_file=None: forks.append(model_file)
    window.ask_forks = lambda cfg, count, title, base_label="now": [["optim.lr_g=0.001"]] * count
    checkpoint = str(user_run / "checkpoints" / "latest.pt")

    window.answer = "no"
    window.fork_from(checkpoint)
    assert len(questions) == 1 and forks == []  # declined: no process imports it
    window.answer = "yes"
    window.fork_from(checkpoint)
    assert len(questions) == 2 and forks == [str(model_file)]


def test_the_explorer_on_a_followed_run_of_a_model_file_says_how_to_allow_it(qtbot, make_window, tmp_path):
    # Trained by another process: this one has not imported its file.
    code = tmp_path / "elsewhere" / "their_gan.py"
    code.parent.mkdir()
    shutil.copy(EXAMPLE, code)
    args = ["--steps", "4", "--out", str(tmp_path / "theirs"), "--quiet", "--set", f"model.arch={code}:build"]
    tiny = [a for k, v in TINY_KEYS.items() for a in ("--set", f"{k}={v}")]
    subprocess.run([sys.executable, "-m", "ganstudio", "train", *tiny, *args], check=True, timeout=120)
    (run,) = (tmp_path / "theirs").iterdir()
    window = make_window()
    window.open_run(run)
    qtbot.waitUntil(lambda: window.session.following and len(window.session.history) > 0, timeout=WAIT_MS)
    window._docks["latent"].show()
    window._docks["latent"].raise_()
    label = window.latent.findChild(QLabel, "latent_source")
    qtbot.waitUntil(lambda: "has not imported" in label.text(), timeout=WAIT_MS)
    assert "their_gan.py" in label.text() and "allow the import" in label.text()  # not a bare error


@pytest.mark.parametrize("case", ["probabilities", "forward raises", "wrong shape"])
def test_broken_model_code_is_a_dialog_naming_the_file_and_the_current_run_is_kept(
    qtbot, make_window, tmp_path, case
):
    from tests.core.test_user_model import BROKEN
    from tests.qt.test_main_window import wait_dialog

    text, line, words = BROKEN[case]
    bad = tmp_path / f"broken_{case.replace(' ', '_')}.py"
    bad.write_text(text)
    window = make_window(train__steps=6)
    s = window.session
    action(window, "action_start").trigger()  # a good run first: it must survive the bad one
    qtbot.waitUntil(lambda: s.state == "stopped" and s.step == 6, timeout=WAIT_MS)
    good = s.run_dir
    s.new_run()  # File › New Run: the finished run stays on disk
    s.set_config(with_values(s.config, {"model.arch": f"{bad}:build"}))
    action(window, "action_start").trigger()
    box = wait_dialog(qtbot, window, "error_dialog", bad.name)
    assert words in box.text() and (line in box.text()) and not box.detailedText()  # no traceback
    qtbot.waitUntil(lambda: not s.busy, timeout=WAIT_MS)
    assert s.state == "idle" and (good / "checkpoints" / "latest.pt").exists()  # nothing lost
