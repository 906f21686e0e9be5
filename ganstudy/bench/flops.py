"""The FLOP count the bench credits a step with: the model family's own (models/)."""

from __future__ import annotations

from ganstudy.config import TrialConfig
from ganstudy.engine.models import get_family
from ganstudy.engine.targets import make_target


def step_flops(config: TrialConfig) -> float:
    """Matmul FLOPs of one iteration of Algorithm 1, all replicas (the family's count; for
    the MLP see models.mlp.MLPFamily.flops_per_step)."""
    target = make_target(config.target, config.target_scale, config.target_std)
    if config.conditional:  # G reads [z, one_hot(label)]; D's projection is no matmul
        config = config.replace(z_dim=config.z_dim + target.n_modes)
    return get_family(config.model).flops_per_step(config, target.dim)
