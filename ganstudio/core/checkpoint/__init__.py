"""Checkpoint files: a dict of state_dicts and plain values, loaded with weights_only=True only.

io.py        the format and its file names, atomic save, verified and validated load
store.py     a folder of checkpoints: step files rotated, manual ones kept, latest.pt
names.py     the names of those files (no torch: the app lists checkpoints without it)
checks.py    every state in a checkpoint checked against a freshly built trainer
digest.py    the content digest every checkpoint carries
filekind.py  what a file that is not a checkpoint is, said without unpickling it
"""
