"""The window's action state of the current run (Session.state), one word each:

    idle      no model yet; Start builds one from the config in a new run folder
    starting  a worker thread is building the trainer (loading data, building models) or opening
              a checkpoint
    running   training (on this app's thread, or in the followed process)
    paused    training waits between steps (Step runs one)
    stopping  a stop was requested; waiting for the current step/save to end
    stopped   a model exists (after Stop, at the end of training, from a checkpoint, or a followed
              run that finished, failed or went stale); Start continues it in the app

The run's own status (RunState.status: new/running/paused/finished/stopped/failed/stale) says what
the run did; this says what the window's actions can do with it now (the run handle sets it).
"""

IDLE, STARTING, RUNNING, PAUSED, STOPPING, STOPPED = (
    "idle",
    "starting",
    "running",
    "paused",
    "stopping",
    "stopped",
)
