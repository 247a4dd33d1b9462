"""Model families: GAN, VAE and RBM behind one small interface (`base.py`)."""

from .base import AbstractFamily
from .gan import GAN
from .rbm import RBM
from .vae import VAE

__all__ = ["AbstractFamily", "GAN", "VAE", "RBM"]
