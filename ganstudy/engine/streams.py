"""Each replica's randomness, in independent streams seeded from (seed + replica).

A replica draws the same numbers whether it trains alone, beside other replicas or in a
fused group: its streams depend only on its own seed. Purposes get separate streams
(`mixed_seed(seed + r, STREAM_...)`), so measuring never changes training.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ganstudy.config import BLOCK_STEPS, TrialConfig
from ganstudy.engine.losses import get_loss
from ganstudy.engine.targets import Target
from ganstudy.fusing import per_replica

# Distinct purposes get independent seed streams from one (seed + replica):
# mixed_seed(seed + r, STREAM_...).
STREAM_INIT, STREAM_TRAIN, STREAM_EVAL, STREAM_SNAPSHOT = 0, 1, 2, 3


def mixed_seed(*words: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0] >> 1)


class ReplicaStreams:
    """Each replica's training randomness (real batches, noise, GP mixing weights).

    Replica r draws from its own generator seeded by (seed + r), so it sees the same
    numbers whether trained alone or with others. Draws come in blocks of BLOCK_STEPS steps
    to keep the number of RNG calls per step small; the generators' states at the start
    of the current block are the checkpointed state, and a restore redraws that block.
    """

    def __init__(
        self,
        members: TrialConfig | Sequence[TrialConfig],
        target: Target,
        device: torch.device,
        dtype: torch.dtype,
    ):
        members = (members,) if isinstance(members, TrialConfig) else tuple(members)
        self.config, self.target, self.dtype = members[0], target, dtype
        config = members[0]  # the shapes; seeds and losses are each replica's own
        self.seeds = replica_seeds(members)
        self.generators = [
            torch.Generator(device).manual_seed(mixed_seed(seed, STREAM_TRAIN))
            for seed in self.seeds
        ]
        # Only replicas whose loss has a gradient penalty draw its mixing weights (as alone).
        self.draws_mix = [get_loss(m.loss).gradient_penalty for m in per_replica(members)]
        self.block_start: list[torch.Tensor] = []
        self.block: dict[str, torch.Tensor] = {}
        # A conditional G step's labels come in the data's class proportions.
        self.label_frequencies = (
            target.label_frequencies().to(device) if config.conditional else None
        )

    def draw(self, step: int) -> dict[str, torch.Tensor]:
        """Step `step`'s randomness: real (k, R, B, *shape), z_d (k, R, B, z), z_g (g_steps,
        R, B, z), mix (k, R, B, 1, ...) (one weight per sample, broadcast over its axes);
        for a conditional GAN also the labels y_d (k, R, B) of the real batches (a D step's
        fakes are generated for them) and y_g (g_steps, R, B), drawn after the rest so an
        unconditional trial's numbers are the same as ever."""
        if not self.block or step % BLOCK_STEPS == 0:
            self._refill()
        i = step % BLOCK_STEPS
        return {name: tensor[i] for name, tensor in self.block.items()}

    def _refill(self) -> None:
        c, shape = self.config, self.target.shape
        self.block_start = [g.get_state() for g in self.generators]
        names = ("real", "z_d", "z_g", "mix", "y_d", "y_g")
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        mixing = any(self.draws_mix)
        for g, draws_mix in zip(self.generators, self.draws_mix, strict=True):
            kwargs = {"generator": g, "device": g.device, "dtype": self.dtype}
            real, labels = self.target.sample_labeled(BLOCK_STEPS * c.k * c.batch_size, g)
            parts["real"].append(
                real.to(self.dtype).reshape(BLOCK_STEPS, c.k, c.batch_size, *shape)
            )
            parts["z_d"].append(torch.randn(BLOCK_STEPS, c.k, c.batch_size, c.z_dim, **kwargs))
            parts["z_g"].append(
                torch.randn(BLOCK_STEPS, c.g_steps, c.batch_size, c.z_dim, **kwargs)
            )  # g_steps = 1: the same numbers as (BLOCK_STEPS, B, z) drew before g_steps
            if mixing:  # zeros for a replica without a penalty: its weight there is 0
                ones = (1,) * len(shape)
                size = (BLOCK_STEPS, c.k, c.batch_size, *ones)
                draw = torch.rand if draws_mix else _zeros_like_rand
                parts["mix"].append(draw(*size, **kwargs))
            if self.label_frequencies is not None:
                parts["y_d"].append(labels.reshape(BLOCK_STEPS, c.k, c.batch_size))
                n_g = BLOCK_STEPS * c.g_steps * c.batch_size
                y_g = torch.multinomial(self.label_frequencies, n_g, True, generator=g)
                parts["y_g"].append(y_g.reshape(BLOCK_STEPS, c.g_steps, c.batch_size))
        # Replica axis just before the batch axis (axis 2 of every part), so each step's
        # slice is contiguous.
        self.block = {name: torch.stack(p, dim=2) for name, p in parts.items() if p}

    def state_dict(self) -> dict[str, Any]:
        device = self.generators[0].device.type
        return {"block_start": [s.clone() for s in self.block_start], "device": device}

    def load_state_dict(self, state: dict[str, Any], step: int) -> None:
        """Continue the streams of a checkpoint taken at `step`.

        CPU and CUDA generators have different states (and draw different numbers), so the
        streams of a checkpoint written on the other device type cannot be restored: then
        each replica's generator is seeded from (seed + r, step) instead. The trial goes on
        deterministically from its weights, optimizers and history, but not with the batches
        the other device would have drawn (bit-exact resume holds on one device type).
        """
        if not state["block_start"]:
            return
        written_on = state.get("device", "cpu")  # checkpoints before the key: CPU-only runs
        if written_on == self.generators[0].device.type:
            for g, s in zip(self.generators, state["block_start"], strict=True):
                g.set_state(s)
        else:
            warnings.warn(
                f"checkpoint written on {written_on}, continuing on "
                f"{self.generators[0].device.type}: random streams reseeded from (seed, step "
                f"{step}); the run goes on deterministically but not bit-identically",
                stacklevel=2,
            )
            start = step - step % BLOCK_STEPS  # the block the checkpoint's step is in
            for seed, g in zip(self.seeds, self.generators, strict=True):
                g.manual_seed(mixed_seed(seed, STREAM_TRAIN, start))
        self._refill()


def replica_seeds(members: Sequence[TrialConfig]) -> list[int]:
    """Each replica's seed: member m's replica r trains with m.seed + r."""
    return [m.seed + r for m in members for r in range(m.replicas)]  # per_replica's order


def _zeros_like_rand(*size: int, generator: torch.Generator, **kwargs: Any) -> torch.Tensor:
    """torch.rand's signature, zeros, and the generator left alone."""
    return torch.zeros(*size, **kwargs)
