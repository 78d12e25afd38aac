"""Training: the trainer (models, optimisers, one step, checkpoints of itself) and its loop, and
what it needs around it.

trainer.py      the Trainer and its event loop
losses.py       the GAN objectives
distributed.py  torchrun: the job, gradient averaging, global BatchNorm, agreed requests
threads.py      how many CPU threads to train with
oom.py          running out of memory, said as what to lower
allocator.py    freed memory handed back to the system
health.py       the health alerts (D winning, exploding gradients, collapse, D overfitting)
lab.py          the 2D lab's view: D's field and G's gradients
"""
