"""The hyperparameter panel, driven through its real widgets."""

import html

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QScrollArea,
    QToolButton,
    QWidget,
)

from ganstudio.core.config import KEYS, LIVE_KEYS, Config, get, parse_value, with_values
from ganstudio.qt.panels.hyperparams import HyperparamsPanel


@pytest.fixture
def panel(qtbot):
    p = HyperparamsPanel(Config())
    qtbot.addWidget(p)
    p.resize(340, 900)
    p.show()
    return p


def field(panel, key):
    w = panel.findChild(QWidget, key)
    assert w is not None, f"no widget named {key}"
    return w


def type_text(qtbot, w: QLineEdit, text: str) -> None:
    """Replace the text as a user would: select all, type (textEdited fires per key)."""
    w.setFocus()
    w.selectAll()
    qtbot.keyClicks(w, text)


def commit(qtbot, w: QLineEdit) -> None:
    qtbot.keyClick(w, Qt.Key.Key_Return)


def test_every_key_has_a_widget_named_after_it(panel):
    assert panel.objectName() == "hyperparams_panel"
    for key, info in KEYS.items():
        w = field(panel, key)
        if info.choices is not None:
            assert isinstance(w, QComboBox)
            assert [w.itemData(i) for i in range(w.count())] == list(info.choices)
        elif info.type is bool:
            assert isinstance(w, QCheckBox)
        else:
            assert isinstance(w, QLineEdit)
        assert info.help in w.toolTip()
        assert w.isEnabled()
    assert panel.errors() == {}
    assert panel.is_valid()


def test_widgets_show_the_config(panel):
    cfg = Config()
    for key in KEYS:
        w = field(panel, key)
        if isinstance(w, QComboBox):
            assert w.currentData() == get(cfg, key)
        elif isinstance(w, QCheckBox):
            assert w.isChecked() == get(cfg, key)
        else:
            assert parse_value(key, w.text()) == get(cfg, key)


def test_folder_keys_have_a_browse_button(panel, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "/tmp/my images")
    button = panel.findChild(QToolButton, "data.root.browse")
    assert panel.findChild(QToolButton, "log.out.browse") is not None
    with qtbot.waitSignal(panel.config_edited) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].data.root == "/tmp/my images"
    assert field(panel, "data.root").text() == "/tmp/my images"


def test_cancelled_browse_changes_nothing(panel, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    with qtbot.assertNotEmitted(panel.config_edited):
        qtbot.mouseClick(panel.findChild(QToolButton, "data.root.browse"), Qt.MouseButton.LeftButton)
    assert panel.config() == Config()


def test_valid_edit_emits_config_edited(panel, qtbot):
    w = field(panel, "optim.lr_g")
    type_text(qtbot, w, "1e-3")
    with qtbot.waitSignal(panel.config_edited) as blocker:
        commit(qtbot, w)
    assert blocker.args[0].optim.lr_g == 1e-3
    assert blocker.args[0] == with_values(Config(), {"optim.lr_g": 1e-3})
    assert panel.config().optim.lr_g == 1e-3
    assert panel.is_valid()


def test_commit_without_change_emits_nothing(panel, qtbot):
    w = field(panel, "optim.lr_g")
    with qtbot.assertNotEmitted(panel.config_edited):
        commit(qtbot, w)
    type_text(qtbot, w, "2e-04")  # the same value written differently
    with qtbot.assertNotEmitted(panel.config_edited):
        commit(qtbot, w)


def test_combo_and_checkbox_edits_emit(panel, qtbot):
    combo = field(panel, "data.dataset")
    with qtbot.waitSignal(panel.config_edited) as blocker:
        combo.setCurrentIndex(combo.findData("ring8"))
    assert blocker.args[0].data.dataset == "ring8"

    box = field(panel, "train.amp")
    with qtbot.waitSignal(panel.config_edited) as blocker:
        box.click()
    assert blocker.args[0].train.amp is True
    assert blocker.args[0].data.dataset == "ring8"


@pytest.mark.parametrize(
    "key, text",
    [
        ("optim.lr_g", "nan"),
        ("optim.lr_g", "inf"),
        ("optim.lr_g", "abc"),
        ("optim.lr_g", "0"),
        ("optim.lr_g", "-1e-4"),
        ("optim.lr_d", "11"),
        ("train.batch_size", "0"),
        ("train.batch_size", "64.5"),
        ("train.seed", str(2**63)),
    ],
)
def test_invalid_value_is_marked_not_clamped(panel, qtbot, key, text):
    w = field(panel, key)
    before = panel.config()
    with qtbot.waitSignal(panel.valid_changed) as blocker:
        type_text(qtbot, w, text)
    assert blocker.args == [False]
    assert not panel.is_valid()
    reason = panel.errors()[key]
    assert key in reason
    assert w.property("invalid") is True
    error_label = panel.findChild(QLabel, f"{key}.error")
    assert error_label.isVisible() and error_label.text() == reason
    assert reason in w.toolTip()
    assert html.escape(reason) in panel.findChild(QLabel, "hyperparams_problems").text()

    with qtbot.assertNotEmitted(panel.config_edited):
        commit(qtbot, w)
    assert w.text() == text  # left as typed: nothing corrected behind the user's back
    assert panel.config() == before

    # Fixing it restores validity and commits the fixed value.
    with qtbot.waitSignal(panel.valid_changed) as blocker:
        type_text(qtbot, w, "3")
    assert blocker.args == [True]
    with qtbot.waitSignal(panel.config_edited) as edited:
        commit(qtbot, w)
    assert get(edited.args[0], key) == 3
    assert panel.errors() == {}
    assert not w.property("invalid")
    assert not error_label.isVisible()
    assert not panel.findChild(QLabel, "hyperparams_problems").isVisible()


def test_valid_changed_fires_only_on_flips(panel, qtbot):
    seen = []
    panel.valid_changed.connect(seen.append)
    w = field(panel, "train.batch_size")
    type_text(qtbot, w, "-12")  # "-" is invalid, and so is "-1", "-12"
    type_text(qtbot, w, "128")
    assert seen == [False, True]


def test_full_range_int_is_accepted(panel, qtbot):
    w = field(panel, "train.seed")
    type_text(qtbot, w, str(2**63 - 1))
    with qtbot.waitSignal(panel.config_edited) as blocker:
        commit(qtbot, w)
    assert blocker.args[0].train.seed == 2**63 - 1


def test_cross_field_problem_is_shown_and_marks_both_fields(panel, qtbot):
    arch = field(panel, "model.arch")
    with qtbot.assertNotEmitted(panel.config_edited):
        with qtbot.waitSignal(panel.valid_changed) as blocker:
            arch.setCurrentIndex(arch.findData("dcgan"))  # digits are 8x8 natively
    assert blocker.args == [False]
    problems = panel.findChild(QLabel, "hyperparams_problems")
    assert problems.isVisible()
    assert "dcgan" in problems.text() and "data.image_size" in problems.text()
    errors = panel.errors()
    assert set(errors) == {"model.arch", "data.image_size"}
    assert arch.property("invalid") is True
    assert field(panel, "data.image_size").property("invalid") is True
    assert panel.config().model.arch == "mlp"  # the last valid config

    size = field(panel, "data.image_size")
    type_text(qtbot, size, "16")
    with qtbot.waitSignal(panel.config_edited) as edited:
        commit(qtbot, size)
    assert edited.args[0].model.arch == "dcgan" and edited.args[0].data.image_size == 16
    assert panel.is_valid() and panel.errors() == {}
    assert not problems.isVisible()


def test_cross_field_problem_on_a_text_key(panel, qtbot):
    w = field(panel, "train.device")
    type_text(qtbot, w, "gpu")
    assert not panel.is_valid()
    assert "train.device" in panel.errors()["train.device"]
    assert w.property("invalid") is True


def test_set_running_locks_exactly_the_non_live_keys(panel):
    panel.set_running(True)
    for key in KEYS:
        w = field(panel, key)
        if key in LIVE_KEYS:
            assert w.isEnabled(), key
            assert KEYS[key].help in w.toolTip()
        else:
            assert not w.isEnabled(), key
            assert key in w.toolTip() and "cannot change while training runs" in w.toolTip()
            assert "File › New Run" in w.toolTip()  # the one wording of a lock, and the way out
    assert not panel.findChild(QToolButton, "data.root.browse").isEnabled()

    panel.set_running(False)
    for key in KEYS:
        w = field(panel, key)
        assert w.isEnabled(), key
        assert KEYS[key].help in w.toolTip()
    assert panel.findChild(QToolButton, "data.root.browse").isEnabled()


def test_live_key_can_be_edited_while_running(panel, qtbot):
    panel.set_running(True)
    w = field(panel, "optim.lr_d")
    type_text(qtbot, w, "5e-5")
    with qtbot.waitSignal(panel.config_edited) as blocker:
        commit(qtbot, w)
    assert blocker.args[0].optim.lr_d == 5e-5


def test_set_config_updates_widgets_without_emitting(panel, qtbot):
    cfg = with_values(
        Config(),
        {"optim.lr_g": 1e-5, "data.dataset": "ring8", "train.amp": True, "log.name": "try 2"},
    )
    with qtbot.assertNotEmitted(panel.config_edited), qtbot.assertNotEmitted(panel.valid_changed):
        panel.set_config(cfg)
    assert field(panel, "optim.lr_g").text() == "1e-05"
    assert field(panel, "data.dataset").currentData() == "ring8"
    assert field(panel, "train.amp").isChecked()
    assert field(panel, "log.name").text() == "try 2"
    assert panel.config() == cfg


def test_set_config_clears_errors(panel, qtbot):
    type_text(qtbot, field(panel, "optim.lr_g"), "abc")
    assert not panel.is_valid()
    with qtbot.assertNotEmitted(panel.config_edited):
        with qtbot.waitSignal(panel.valid_changed) as blocker:
            panel.set_config(Config())
    assert blocker.args == [True]
    assert panel.errors() == {}
    assert field(panel, "optim.lr_g").text() == "0.0002"
    assert not field(panel, "optim.lr_g").property("invalid")


@pytest.mark.parametrize("value", [2e-4, 1e-5, 3.5e-7, 0.1234567891, 0.99999, 10.0])
def test_scientific_notation_round_trip(panel, qtbot, value):
    panel.set_config(with_values(Config(), {"optim.lr_g": value}))
    w = field(panel, "optim.lr_g")
    assert parse_value("optim.lr_g", w.text()) == value
    panel.set_config(Config())
    type_text(qtbot, w, f"{value:e}")
    commit(qtbot, w)
    assert panel.config().optim.lr_g == float(f"{value:e}")


def test_scientific_notation_is_accepted_as_typed(panel, qtbot):
    w = field(panel, "optim.lr_d")
    type_text(qtbot, w, "1E-4")
    with qtbot.waitSignal(panel.config_edited) as blocker:
        commit(qtbot, w)
    assert blocker.args[0].optim.lr_d == 1e-4


def test_add_header_widget_goes_on_top(panel):
    first, second = QComboBox(), QComboBox()
    first.setObjectName("hyperparams_preset")
    panel.add_header_widget(first)
    panel.add_header_widget(second)
    assert panel.layout().itemAt(0).widget() is first
    assert panel.layout().itemAt(1).widget() is second
    assert panel.findChild(QComboBox, "hyperparams_preset") is first


def test_config_follows_valid_fields_and_commit_emits_pending_edit(panel, qtbot):
    w = field(panel, "optim.beta1")
    type_text(qtbot, w, "0.9")  # typed, not yet confirmed
    assert panel.config().optim.beta1 == 0.9
    with qtbot.waitSignal(panel.config_edited) as blocker:
        assert panel.commit()
    assert blocker.args[0].optim.beta1 == 0.9
    with qtbot.assertNotEmitted(panel.config_edited):
        assert panel.commit()  # nothing pending any more


def test_invalid_field_keeps_the_last_committed_config(panel, qtbot):
    w = field(panel, "train.batch_size")
    type_text(qtbot, w, "10x")  # "1" and "10" were valid on the way
    assert panel.config() == Config()
    with qtbot.assertNotEmitted(panel.config_edited):
        assert not panel.commit()


def test_problem_link_scrolls_to_the_field(panel, qtbot):
    panel.resize(340, 400)
    panel.set_config(with_values(Config(), {"log.keep_checkpoints": 0}))  # the last section
    assert not panel.is_valid()
    problems = panel.findChild(QLabel, "hyperparams_problems")
    assert 'href="log.keep_checkpoints"' in problems.text()
    bar = panel.findChild(QScrollArea, "hyperparams_scroll").verticalScrollBar()
    bar.setValue(0)
    problems.linkActivated.emit("log.keep_checkpoints")
    assert bar.value() > 0
