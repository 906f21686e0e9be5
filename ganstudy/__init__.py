"""ganstudy: hyperparameter studies of GAN training dynamics (PyTorch + Ray Tune)."""

from ganstudy.config import TrialConfig

__all__ = ["TrialConfig"]
