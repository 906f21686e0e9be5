"""The public path of the trainer (`from ganstudy.trainer import Trainer`, as the README
writes it); the code is ganstudy/engine/trainer.py."""

from ganstudy.engine.trainer import Trainer

__all__ = ["Trainer"]
