"""Asking before importing a model file the user did not name here.

A checkpoint (or run) of your own model names the file its models are built with and that file's
SHA-256. Importing the file runs its code, so opening, forking or continuing such a checkpoint from
the app first says which file would be imported, with its hash, and imports it only when the user
agrees: the file itself when it still has the recorded hash, the run folder's copy, or a file the
user picks. `ganstudio.core.models.provenance` answers which file, without importing anything.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ganstudio.core.config.arch import is_user, parse

TITLE = "Import a model file?"


def question(check: Any) -> str:
    """What the dialog says: the checkpoint, the file and its hash, and whether it still matches."""
    r = check.recorded
    whose = check.checkpoint.name if check.checkpoint is not None else "This run"
    if check.matches:
        return (
            f"{whose} was trained with your own model (model.arch = {r.arch}).\n\n"
            f"Continuing it imports {r.path}\nSHA-256 {r.sha256}\n\n"
            "Importing a model file runs its code. Import it?"
        )
    return check.problem("another file (Choose File…)")


def imports_note(arch: str) -> str:
    """For your own model, which file a run imports and its hash (a line and a blank line); "" for a
    built-in or a file that is not there."""
    if not is_user(arch):
        return ""
    path = parse(arch).path()
    if path is None:
        return f"Imports the module {parse(arch).module}\n\n"
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""
    return f"Imports {path}\nSHA-256 {digest}\n\n"


def ask_model_code(parent: QWidget, check: Any) -> Any:
    """The ModelRef to import for `check` (a provenance.ModelFileCheck), or None if the user
    declines. Offers the recorded file when it still matches, the run folder's copy when there is
    one, and a file of the user's choice."""
    from ganstudio.core.models.provenance import named_file
    from ganstudio.core.models.user import ModelCodeError

    box = QMessageBox(QMessageBox.Icon.Question, TITLE, question(check), parent=parent)
    box.setObjectName("model_code_question")
    use = box.addButton("Import", QMessageBox.ButtonRole.AcceptRole) if check.matches else None
    copy = None
    if not check.matches and check.copy is not None:
        copy = box.addButton("Use the Run Folder's Copy", QMessageBox.ButtonRole.AcceptRole)
    choose = box.addButton("Choose File…", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked is use:
        return check.recorded
    if clicked is copy:
        return named_file(check.arch, check.copy)
    if clicked is choose:
        start = str(check.path.parent if check.path.parent.is_dir() else Path.cwd())
        path, _ = QFileDialog.getOpenFileName(parent, "Model File", start, "Python files (*.py)")
        if path:
            try:
                return named_file(check.arch, path)
            except ModelCodeError as e:
                QMessageBox.warning(parent, TITLE, str(e))
    return None
