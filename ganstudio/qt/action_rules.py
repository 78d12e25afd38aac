"""When each training action can run, and, when it cannot, why: one rule per action, read by the
window's action updater. An action is enabled exactly when its reason is "" and a disabled one
says its reason in its tooltip and status tip, so nothing is greyed out without a word, and
nothing is enabled that would only refuse when clicked.

Reasons are short clauses for "<what the action does> — not now: <reason>".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganstudio.qt.states import PAUSED, RUNNING, STARTING, STOPPED, STOPPING

if TYPE_CHECKING:
    from ganstudio.qt.session import Session

FIX_FIELDS = "fix the highlighted hyperparameters first"
NEW_RUN_FIRST = "a model exists; choose File › New Run first"
FOLLOWING_NEW_RUN = "this window follows a run folder; choose File › New Run first"


def _end_of_steps(steps: int, verb: str) -> str:
    return f"the run reached train.steps = {steps:,}; raise Steps in Hyperparameters to {verb}"


def local(s: Session, valid: bool, closing: bool) -> dict[str, str]:
    """The reasons for a run the app trains itself (or none yet), by action name."""
    st, has_model = s.state, s.trainer is not None
    busy_why = {
        STARTING: "training is starting",
        RUNNING: "training is running; Pause or Stop it first",
        PAUSED: "training is paused; Stop it first",
        STOPPING: "training is stopping",
    }
    stopping = "the app is closing" if closing else "training is stopping" if st == STOPPING else ""
    idle_why = "nothing is training; press Start first"

    if stopping:
        start = stopping
    elif not valid:
        start = FIX_FIELDS
    elif st in (STARTING, RUNNING, PAUSED):
        start = busy_why[st]
    elif not s.can_start():
        start = _end_of_steps(s.config.train.steps, "train longer")
    else:
        start = ""
    pause = stopping or (
        "" if st in (RUNNING, PAUSED) else busy_why[STARTING] if st == STARTING else idle_why
    )
    step = stopping or ("" if st == PAUSED else "pause training first" if st == RUNNING else start)
    stop = "" if st in (STARTING, RUNNING, PAUSED) else stopping or idle_why
    save = stopping or (
        "there is no model yet; Start training first"
        if not has_model
        else ""
        if st in (RUNNING, PAUSED, STOPPED)
        else busy_why.get(st, "")
    )
    quiet = busy_why.get(st, "") if s.busy else ""  # what needs the training thread gone
    new_config = quiet or (NEW_RUN_FIRST if has_model else "")
    return {
        "action_start": start,
        "action_pause": pause,
        "action_step": step,
        "action_stop": stop,
        "action_save_checkpoint": save,
        "action_save_checkpoint_as": save,
        "action_open_checkpoint": quiet,
        "action_open_run": quiet,
        "action_start_processes": stopping
        or quiet
        or (NEW_RUN_FIRST if has_model else FIX_FIELDS if not valid else ""),
        "action_new_run": quiet or ("" if has_model else "there is no model to forget yet"),
        "action_load_config": new_config,
        "preset": new_config,
    }


def following(s: Session, closing: bool) -> dict[str, str]:
    """The reasons for a run that another process trains (or trained), followed through its folder."""
    st, run = s.state, s.model.state
    imported = f"the run was {s.handle.imported}" if s.handle.imported else ""
    if closing:
        steer = "the app is closing"
    elif imported:
        steer = f"{imported}: nothing trains it"
    elif s.watch_only:
        steer = s.watch_only
    elif not run.alive:
        steer = "the run is not training now"
    else:
        steer = ""
    if closing:
        start = "the app is closing"
    elif imported:
        start = f"{imported}: it has no checkpoint to continue from"
    elif run.alive:
        start = "the run trains in another process: steer it with Pause, Step and Stop"
    elif s.followed is None or s.followed.latest_checkpoint() is None:
        start = "this run has no checkpoint to continue from"
    elif not s.can_start():
        start = _end_of_steps(s.config.train.steps, "continue it here")
    else:
        start = ""
    return {
        "action_start": start,
        "action_pause": steer or ("" if st in (RUNNING, PAUSED) else "the run is not training now"),
        "action_step": steer or ("" if st == PAUSED else "pause the run first"),
        "action_stop": steer or ("" if st in (RUNNING, PAUSED) else "the run is not training now"),
        "action_save_checkpoint": steer,
        "action_save_checkpoint_as": "the run saves into its own folder: use Save Checkpoint while it "
        "trains, or open one of its checkpoints",
        "action_open_checkpoint": "",
        "action_open_run": "",
        "action_start_processes": FOLLOWING_NEW_RUN,
        "action_new_run": "",
        "action_load_config": FOLLOWING_NEW_RUN,
        "preset": FOLLOWING_NEW_RUN,
    }
