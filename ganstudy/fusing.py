"""Which configurations can train as one batched model (`fuse`), as plain data.

Replicas already make the R seeds of one configuration one model: every parameter has a
leading replica axis. A *group* goes further: its members are whole configurations that
share every setting that fixes a shape or a step count, and differ only in settings whose
effect is element-wise per replica (`FUSABLE`): learning rates, betas, momentum, penalty
weights, the clip value, the loss and the seed. The trainer then holds
`len(members) · replicas` replicas, member m's being rows [m·R, (m+1)·R) of every tensor,
with per-replica optimizer hyperparameters, per-replica penalty weights and each loss on its
members' slice (trainer.py, updates.py, optim.py).

No torch, no Ray: the run layer groups a study's configurations with `shape_key`, the
trainer checks its members with `check_members`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganstudy.columns import PENALTY_LOSSES
from ganstudy.config import FIELDS, ConfigError, TrialConfig

# Settings whose effect is element-wise per replica: they may differ inside a group.
FUSABLE: tuple[str, ...] = (
    "lr_d",
    "lr_g",
    "beta1",
    "beta2",
    "momentum",
    "r1",
    "gp_weight",
    "clip",
    "loss",
    "seed",
)
# Why unroll > 0 trains alone: its look-ahead writes D's optimizer update out per parameter
# with one learning rate (updates.unrolled_parameters); a group of one is exact as ever.
ALONE_WHY = "unroll > 0 trains each configuration alone"


def shape_key(config: TrialConfig | dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The settings a group's members must share: every field but FUSABLE, as (name, value)
    pairs in field order (hashable, so configurations group by it)."""
    values = config if isinstance(config, dict) else vars(config)
    return tuple((name, values.get(name)) for name in FIELDS if name not in FUSABLE)


def penalties(config: TrialConfig | dict[str, Any]) -> tuple[bool, bool]:
    """(pays the gradient penalty, pays R1): what the configuration computes alone (a GP
    loss, at any weight; R1 where r1 > 0). A group computes a penalty for all its replicas
    once any member pays it (updates.replica_settings), so the run layer groups
    configurations that pay different penalties apart (run/groups.plan)."""
    values = config if isinstance(config, dict) else vars(config)
    return values.get("loss") in PENALTY_LOSSES, (values.get("r1") or 0) > 0


def can_fuse(config: TrialConfig | dict[str, Any]) -> bool:
    """Whether a configuration may share a model with others (see ALONE_WHY)."""
    values = config if isinstance(config, dict) else vars(config)
    return not values.get("unroll")


def per_replica(members: Sequence[TrialConfig]) -> list[TrialConfig]:
    """Each replica's configuration, in the group's row order: member m's `replicas` rows
    [m·R, (m+1)·R) (the one place that order is written down)."""
    return [member for member in members for _ in range(member.replicas)]


def check_members(members: Sequence[TrialConfig]) -> None:
    """Raise ConfigError unless `members` (at least one) may train as one model: the same
    value of every setting outside FUSABLE, and a lone member where it cannot fuse."""
    if not members:
        raise ConfigError("members", "a group needs at least one configuration")
    if len(members) == 1:
        return
    first = shape_key(members[0])
    for member in members[1:]:
        for (name, value), (_, other) in zip(first, shape_key(member), strict=True):
            if value != other:
                raise ConfigError(
                    name,
                    f"differs inside a fused group ({value!r} and {other!r}); only "
                    f"{', '.join(FUSABLE)} may differ between members",
                )
    if not can_fuse(members[0]):
        raise ConfigError("unroll", f"cannot be fused: {ALONE_WHY}")
