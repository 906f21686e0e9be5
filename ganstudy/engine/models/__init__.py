"""Model families behind one interface, registered by the `model` names users write in YAML.

A family (`base.ModelFamily`) builds replica-batched G and D (`base.ReplicaModule`) for a
config and a target and counts its FLOPs per training step. Adding a family is one module
(a `ModelFamily` subclass) plus one line in FAMILIES, its name in `config.ModelName` and
what it accepts (targets, refused settings) as one entry of `config.FAMILY_RULES`.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence

import torch

from ganstudy.config import ModelName, TrialConfig
from ganstudy.engine.models.base import ModelFamily, ReplicaModule
from ganstudy.engine.models.conditional import conditional_models
from ganstudy.engine.models.dcgan import DCGANDiscriminator, DCGANFamily, DCGANGenerator
from ganstudy.engine.models.dirac import DiracDiscriminator, DiracFamily, DiracGenerator
from ganstudy.engine.models.mlp import BatchedMLP, MLPFamily, discriminator_mlp, generator_mlp
from ganstudy.engine.targets import Target

__all__ = [
    "FAMILIES",
    "BatchedMLP",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DiracDiscriminator",
    "DiracGenerator",
    "ModelFamily",
    "ReplicaModule",
    "discriminator_mlp",
    "generator_mlp",
    "get_family",
    "make_models",
]

FAMILIES: dict[str, type[ModelFamily]] = {
    family.name: family for family in (MLPFamily, DCGANFamily, DiracFamily)
}
if set(FAMILIES) != set(typing.get_args(ModelName)):  # a name declared without a family
    raise ImportError(f"models/ and config.ModelName disagree: {sorted(FAMILIES)}")


def get_family(name: str) -> ModelFamily:
    """The family called `name` (a key of FAMILIES)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(FAMILIES)}")
    return FAMILIES[name]()


def make_models(
    config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
) -> tuple[ReplicaModule, ReplicaModule]:
    """(G, D) of config.model for `target`, replica r initialised from init_generators[r].

    G is built first, then D (then a conditional D's label embedding), from the same
    generators (each continues its stream), so a replica's initial weights depend only on
    its own generator.
    """
    family = get_family(config.model)
    if not config.conditional:
        generator = family.generator(config, target, init_generators)
        return generator, family.discriminator(config, target, init_generators)
    # A conditional G reads [z, one_hot(label)] (models/conditional.py).
    n_classes = target.n_modes
    wide = config.replace(z_dim=config.z_dim + n_classes)
    generator = family.generator(wide, target, init_generators)
    discriminator = family.discriminator(config, target, init_generators)
    return conditional_models(
        generator, discriminator, n_classes, init_generators, config.d_spectral_norm
    )
