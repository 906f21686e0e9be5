"""How much measuring each mode of the bench does (quick for tests, full for the figures)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How much measuring each mode does."""

    rounds: int  # interleaved rounds per figure (the median is over these)
    sample_s: float  # target seconds of one timed sample (steps chosen to fill it)
    reference_shapes: tuple[tuple[int, int], ...]  # (width, batch)
    replica_shapes: dict[tuple[int, int], tuple[int, ...]]  # (width, batch) -> R list
    ceiling_replicas: tuple[int, ...]  # trainer R values in the hardware figure
    metric_replicas: tuple[int, ...]  # R values of the metric-cost figure
    metric_rounds: int
    study_trials: int  # trials of the study figure (a grid; all the same cost)
    study_trial_s: float  # target length of one trial (back to back, 1 thread)
    study_rounds: int
    dcgan_shape: tuple[int, int]  # (width, batch) of the dcgan figure (digits, 8x8)
    dcgan_replicas: tuple[int, ...]  # R values of the dcgan figure, starting at 1
    dcgan_eval_every: int | None  # its metric cost's cadence; None: TrialConfig's default
    dcgan_eval_samples: int | None  # ... and eval size; None: the target's default
    fuse_grid: str  # the fuse figure's grid: "balance" (studies/balance.yaml's) or "quick"
    fuse_steps: int  # ... its timed run's steps (balance's 8000, shortened) ...
    fuse_eval_every: int  # ... and eval cadence (balance's: 400)
    fuse_check_steps: int  # steps of its float64 exactness run (an eval at half and end)
    fuse_train_rounds: int  # rounds of its training-alone bound (training_bound)


QUICK = Settings(
    rounds=3,
    sample_s=0.04,
    reference_shapes=((32, 64), (128, 256)),
    replica_shapes={(32, 64): (1, 8, 32), (128, 256): (1, 8)},
    ceiling_replicas=(1, 8),
    metric_replicas=(1,),
    metric_rounds=2,
    study_trials=2,
    study_trial_s=1.0,
    study_rounds=1,
    dcgan_shape=(8, 32),
    dcgan_replicas=(1, 4),
    dcgan_eval_every=20,
    dcgan_eval_samples=2000,
    fuse_grid="quick",
    fuse_steps=20,
    fuse_eval_every=10,
    fuse_check_steps=20,
    fuse_train_rounds=1,
)
FULL = Settings(
    rounds=7,
    sample_s=0.25,
    reference_shapes=((32, 64), (32, 256), (128, 64), (128, 256)),
    replica_shapes={(32, 64): (1, 8, 32, 128), (128, 256): (1, 8, 32, 128)},
    ceiling_replicas=(1, 8, 32),
    metric_replicas=(1, 4),
    metric_rounds=5,
    study_trials=4,
    study_trial_s=36.0,  # >= 30 s trials measured, not projected (the target is for those)
    study_rounds=1,
    dcgan_shape=(64, 64),
    dcgan_replicas=(1, 4, 8),
    dcgan_eval_every=None,
    dcgan_eval_samples=None,
    fuse_grid="balance",
    fuse_steps=800,
    fuse_eval_every=400,
    fuse_check_steps=40,
    fuse_train_rounds=3,
)
