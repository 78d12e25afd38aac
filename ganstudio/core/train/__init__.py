"""Training: the trainer (models, optimisers, one step), the loop that runs it, and what they need
around them.

trainer.py      the Trainer: one GAN, its optimisers, data and counters; `Trainer.run(control)`
loop.py         the training loop, top to bottom: `run(trainer, requests, schedule)`
schedule.py     what is due at a step (stats, samples, checkpoint, metrics, health): pure, no torch
batches.py      the sampler, the held-out images, where the data lives
snapshot.py     a trainer as a checkpoint dict and back
saving.py       a trainer's checkpoint written (to its folder or a file), or why not
sampling.py     the samples event of a step: the fixed-noise grid, or the 2D lab's view
losses.py       the GAN objectives
distributed.py  the collective: `Local` (one process, does nothing) or a torchrun `Job` (gradient
                averaging, global BatchNorm, stats reduced per log interval, agreed requests)
threads.py      how many CPU threads to train with
oom.py          running out of memory, said as what to lower
allocator.py    freed memory handed back to the system
health.py       the health alerts (D winning, exploding gradients, collapse, D overfitting)
lab.py          the 2D lab's view: D's field and G's gradients
"""
