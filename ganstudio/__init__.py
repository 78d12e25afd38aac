"""GAN Studio: train generative adversarial networks and watch them train."""

__version__ = "0.1.0"
