"""A run, whatever runs it: its events and the one function that applies them to its state, and its
run folder, the versioned format other processes read and steer.

events.py        every event and its line in metrics.jsonl
state.py         RunState and its one reducer (`apply`), status_of and run_status (a run's status)
history.py       the stats columns and markers a state holds
folder.py        the run folder's layout (the one module that knows its names), run.json, samples
log.py           metrics.jsonl written from the event stream, and read back (whole, fast)
follow.py        a live folder followed: new lines, heartbeat, a run gone quiet
listing.py       the runs in a folder of run folders (`ganstudio runs`, the Runs dock)
control.py       the requests a running trainer takes (pause, step, stop, edits, saves), and the
                 requests protocol the training loop consumes
steer.py         control.jsonl read into a Control, and the heartbeat
spec.py          one run resolved: new / resume / auto / fork, its folder (`RunSpec.resolve`)
driver.py        a run in its folder, end to end, for the CLI, the app and every rank of a job
notify.py        the run's alerts and end POSTed to log.notify_url from a thread (the driver's listener)
write_failures.py  what could not be written, told once per kind
compare.py, export.py, tensorboard.py   runs side by side, CSV, TensorBoard
"""
