"""genbench: apples-to-apples benchmark of classical generative models."""

__version__ = "0.1.0"
