"""GAN Studio's engine, free of Qt: usable headless, on a server, under torchrun, in a notebook.

config/      the run configuration: the key table, validation, live updates, TOML, presets
run/         a run: its events, its state (the one reducer), its folder, log, follower, listing,
             control file and steering, and the driver that runs it in its folder
checkpoint/  checkpoint files: atomic io and verified loading, the store and its rotation, the
             checks against a fresh trainer, the content digest
train/       the trainer and its loop, losses, torchrun, threads, memory errors, health alerts
data/ models/ metrics/   datasets, the networks, the quality metrics
latent.py    the latent explorer's computations; extent.py the 2D views' extents; curves.py the
             plots' numerics; disk.py a disk's errors and free space in words

No module here imports Qt or pyqtgraph; package __init__ files import nothing (config's is its
public API), so no import circles form.
"""
