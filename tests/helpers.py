"""What several test files share: the tiny configurations every engine test trains, a
trainer's full state, and the replicas-equal-lone-runs check (test files import these from
here, never from each other)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from ganstudy.config import TrialConfig
from ganstudy.engine.targets.digits import Digits
from ganstudy.engine.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]  # the repository: README.md, studies/, ganstudy/

# Tiny models and cheap evaluation: the properties tested do not depend on size.
TINY_MLP: dict[str, Any] = dict(
    target="ring8",
    g_width=16,
    d_width=16,
    z_dim=4,
    batch_size=32,
    eval_batch=256,
    eval_samples=2000,
    coverage_samples=500,
    device="cpu",
)
# The papers' DCGAN on sklearn's 8x8 digits, at 4 base channels.
TINY_DCGAN: dict[str, Any] = dict(
    target="digits",
    model="dcgan",
    g_width=4,
    d_width=4,
    z_dim=4,
    batch_size=16,
    eval_batch=128,
    eval_samples=400,
    coverage_samples=200,
    device="cpu",
)


def tiny(base: dict[str, Any] = TINY_MLP, **changes: Any) -> TrialConfig:
    """A TrialConfig of `base` (TINY_MLP unless given) with `changes`."""
    return TrialConfig(**(base | changes))


def state(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of G and D (spectral-norm vectors included)."""
    out = {f"g.{k}": v for k, v in trainer.generator.state_dict().items()}
    return out | {f"d.{k}": v for k, v in trainer.discriminator.state_dict().items()}


def same(a: float, b: float, tol: float) -> bool:
    return (a != a and b != b) or abs(a - b) <= tol


def _upsample(x: torch.Tensor) -> torch.Tensor:
    """(n, 256) 16x16 images from (n, 64) 8x8 ones, each pixel 2x2."""
    n = len(x)
    return x.reshape(n, 8, 8).repeat_interleave(2, 1).repeat_interleave(2, 2).reshape(n, 256)


class Digits16(Digits):
    """Digits upsampled to 16x16 (each pixel 2x2): a depth-2 image target with BatchNorm in
    D, for the trainer's batch-statistics path (the classifier reads every second pixel)."""

    def __init__(self) -> None:
        super().__init__()
        self.dim = 256

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, 16, 16)

    def sample_labeled(self, n, generator):
        x, y = super().sample_labeled(n, generator)
        return _upsample(x), y

    def held_out_sample(self, n):  # the reference of fd, precision and recall
        x, y = super().held_out_sample(n)
        return _upsample(x), y

    def _channels(self, samples):  # what the classifier reads: every second pixel
        small = samples.reshape(*samples.shape[:-1], 16, 16)[..., ::2, ::2]
        return small.reshape(*samples.shape[:-1], 1, 64)


def assert_replicas_equal_lone_runs(config: TrialConfig) -> Trainer:
    """Train `config` (2 replicas, seed 5, float64) together and each replica alone; every
    weight to 1e-10 and every history number alike. Returns the together-trained trainer."""
    together = Trainer(config)
    list(together.run())
    for r in range(config.replicas):
        alone = Trainer(config.replace(replicas=1, seed=config.seed + r))
        list(alone.run())
        sa, sb = state(together), state(alone)
        for name in sa:
            torch.testing.assert_close(sa[name][r], sb[name][0], rtol=0, atol=1e-10, msg=name)
        rows = [row for row in together.history if row["replica"] == r]
        assert len(rows) == len(alone.history)
        for row, ref in zip(rows, alone.history, strict=True):
            for name, value in row.items():
                # fd (~150 here) goes through two eigendecompositions, whose square roots
                # of tiny eigenvalues magnify 1e-12 feature differences: relative 1e-8.
                tol = 1e-8 * abs(value) if name == "fd" else 1e-10
                if isinstance(value, float):
                    assert same(value, ref[name], tol), (name, value, ref[name])
    return together


def read_until_closed(fd: int, seconds: float) -> bytes:
    """Everything a pseudo-terminal's controlling side `fd` receives until the child closes
    its end (or `seconds` pass); closes `fd`."""
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        out += data
    os.close(fd)
    return out
