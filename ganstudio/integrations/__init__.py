"""GAN Studio inside the frameworks GAN code already lives in (optional extras).

accelerate.py  GanStudioTracker: `Accelerator(log_with=GanStudioTracker(...))`,
               pip install ganstudio[accelerate]
lightning.py   GanStudioLogger for Fabric and the Trainer, GanStudioSteering (the Trainer's callback),
               pip install ganstudio[lightning]
ranks.py       what both share: `ganstudio.init`'s Run on every rank of the framework's job (rank 0
               writes), its requests agreed by every rank at the same step, as under torchrun

Each is imported by name (`from ganstudio.integrations.accelerate import GanStudioTracker`); this
package imports nothing, so `import ganstudio` never loads a framework.
"""
