"""The conditional GAN (Mirza & Osindero 2014) around any family whose D has a hidden/head split.

`conditional: true` gives both players each sample's label y, the mode index of the target
(an image's class, 0..999 for a stack; a mixture's mode; a curve family's a-bin):

- G(z, y) is the family's own G on [z, one_hot(y)] (R, B, z_dim + n_classes). Its first
  layer's weights on the one-hot part are a learned label embedding added into the first
  pre-activation: Mirza & Osindero's concatenation, and the same thing as an embedding
  table looked up and concatenated.
- D(x, y) = head(φ(x)) + <V_y, φ(x)> with φ = D.hidden(x), the projection discriminator
  (Miyato & Koyama 2018, eq. 3): one embedding row V_y (R, n_classes, F) per class, inner
  product with D's features before its linear output. V is drawn Glorot-uniform (their
  code's initialiser) and, when D is spectrally normalised, divided by its largest singular
  value as their SNEmbedID does.

Where labels come from (trainer.ReplicaStreams): a D step's fakes are generated for the
labels of that step's real batch, so real and fake sample i share a label (a gradient
penalty's interpolate keeps it); a G step draws labels from the data's class frequencies
(`Target.label_frequencies`). Packing and unrolling are refused with `conditional`
(config): a pack would mix labels, and an unrolled D step's real and fake batches carry
different labels.

Replicas stay independent: V has a leading replica axis and each replica looks up its own
rows; replica r is drawn from its own init generator after G and D (make_models).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganstudy.engine.models.base import ReplicaModule


class ConditionalGenerator(ReplicaModule):
    """G(z, y): the wrapped G (built for z_dim + n_classes inputs) on [z, one_hot(y)]."""

    def __init__(self, base: ReplicaModule, n_classes: int):
        super().__init__()
        self.base, self.n_classes = base, n_classes
        self.batch_statistics = base.batch_statistics

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """z (R, B, z_dim), labels (R, B) long -> the base's samples (R, B, *shape)."""
        one_hot = F.one_hot(labels, self.n_classes).to(z.dtype)  # (R, B, n_classes)
        return self.base(torch.cat([z, one_hot], dim=-1))  # (R, B, *shape)


class ProjectionDiscriminator(ReplicaModule):
    """D(x, y) = head(φ(x)) + <V_y, φ(x)>, φ = base.hidden(x) (see the module docstring)."""

    def __init__(
        self,
        base: ReplicaModule,
        n_classes: int,
        features: int,  # F, the width of base.hidden's output
        init_generators: Sequence[torch.Generator],
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.base, self.spectral_norm = base, spectral_norm
        self.batch_statistics = base.batch_statistics
        bound = math.sqrt(6.0 / (n_classes + features))  # Glorot uniform
        draws = [
            (torch.rand(n_classes, features, generator=g, dtype=torch.float64) * 2 - 1) * bound
            for g in init_generators
        ]
        self.embedding = nn.Parameter(torch.stack(draws))  # V: (R, n_classes, F)
        if spectral_norm:
            u = torch.stack(
                [torch.randn(n_classes, generator=g, dtype=torch.float64) for g in init_generators]
            )
            self.register_buffer("sn_u0", F.normalize(u, dim=-1))  # (R, n_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """x (R, B, ...), labels (R, B) long -> (R, B, 1) raw outputs."""
        h = self.base.hidden(x)  # (R, B, F)
        v = self.embedding
        if self.spectral_norm:
            v = v / self.sigma(0, v)[:, None, None]
        rows = v.gather(1, labels[..., None].expand(-1, -1, v.shape[-1]))  # (R, B, F): V_y
        return self.base.head(h) + (rows * h).sum(-1, keepdim=True)  # (R, B, 1)


def conditional_models(
    generator: ReplicaModule,
    discriminator: ReplicaModule,
    n_classes: int,
    init_generators: Sequence[torch.Generator],
    spectral_norm: bool,
) -> tuple[ConditionalGenerator, ProjectionDiscriminator]:
    """(G, D) made conditional; `generator` must have been built for z_dim + n_classes
    inputs. V is drawn from init_generators after G and D (each replica's own stream)."""
    width = discriminator.hidden_width
    return ConditionalGenerator(generator, n_classes), ProjectionDiscriminator(
        discriminator, n_classes, width, init_generators, spectral_norm
    )
