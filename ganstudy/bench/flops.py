"""The FLOP count the bench credits a step with: the model family's own (models/)."""

from __future__ import annotations

from ganstudy.config import TrialConfig
from ganstudy.models import get_family
from ganstudy.targets import make_target


def step_flops(config: TrialConfig) -> float:
    """Matmul FLOPs of one iteration of Algorithm 1, all replicas (the family's count; for
    the MLP see models.mlp.MLPFamily.flops_per_step)."""
    dim = make_target(config.target, config.target_scale, config.target_std).dim
    return get_family(config.model).flops_per_step(config, dim)
