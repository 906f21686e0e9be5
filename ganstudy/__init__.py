"""ganstudy: hyperparameter studies of GAN training dynamics (PyTorch + Ray Tune).

import ganstudy
folder = ganstudy.run_study("studies/smoke.yaml")     # Ray Tune, embedded local Ray
tables = ganstudy.load_results(folder)                 # .trials .history .samples
ganstudy.evaluate_samples("digits", images)            # the metrics of samples made anywhere
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganstudy.config import TrialConfig
    from ganstudy.engine.trainer import Trainer

__all__ = ["Trainer", "TrialConfig", "evaluate_samples", "load_results", "run_study"]


def __getattr__(name: str) -> Any:
    # Lazy: `import ganstudy` must not start importing Ray (seconds) for a TrialConfig, and
    # imports nothing at all, so the console script's quiet Ctrl-C (entry.py) comes first.
    if name == "TrialConfig":
        from ganstudy.config import TrialConfig

        return TrialConfig
    if name == "Trainer":
        from ganstudy.engine.trainer import Trainer

        return Trainer
    if name == "run_study":
        from ganstudy.run.study import run_study

        return run_study
    if name == "load_results":
        from ganstudy.study.results import load_results

        return load_results
    if name == "evaluate_samples":
        from ganstudy.engine.sample_metrics import evaluate_samples

        return evaluate_samples
    raise AttributeError(f"module 'ganstudy' has no attribute {name!r}")
