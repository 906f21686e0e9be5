"""The bench's trainer configuration and the plain-PyTorch GAN loop it is measured against."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganstudy.config import TrialConfig
from ganstudy.engine.targets import make_target

NEVER = 10**9  # steps / eval_every of a trainer that must never evaluate (metrics off)


def bench_config(width: int, batch: int, replicas: int = 1, **changes: Any) -> TrialConfig:
    """The bench's trainer configuration: ring8, nonsaturating, Adam, k = 1, both nets
    `width` wide and 2 hidden layers deep (TrialConfig's defaults otherwise), metrics off."""
    return TrialConfig(
        **{
            "target": "ring8",
            "loss": "nonsaturating",
            "k": 1,
            "g_width": width,
            "d_width": width,
            "batch_size": batch,
            "replicas": replicas,
            "steps": NEVER,
            "eval_every": NEVER,
        }
        | changes
    )


class ReferenceGAN:
    """The obvious plain-PyTorch GAN loop (pytorch/examples' dcgan/main.py style).

    One G and one D of nn.Linear layers, BCE with logits, non-saturating generator loss,
    Adam with torch's defaults for the device; per iteration `config.k` D-steps on fresh
    real data and detached fakes, then one G-step on fresh noise, as Algorithm 1 has it.
    Same sizes, learning rates and data as the trainer's for `config` (R = 1), so it
    computes what the trainer computes.
    """

    def __init__(self, config: TrialConfig, device: torch.device, seed: int = 0):
        c = config
        torch.manual_seed(seed)
        target = make_target(c.target, c.target_scale, c.target_std)
        self.modes = target.modes.to(device, torch.float32)  # (n_modes, dim)
        self.std, self.batch, self.z_dim, self.device = target.std, c.batch_size, c.z_dim, device
        self.k = c.k
        self.G = self._mlp([c.z_dim] + [c.g_width] * c.g_depth + [target.dim], nn.ReLU).to(device)
        self.D = self._mlp(
            [target.dim] + [c.d_width] * c.d_depth + [1], lambda: nn.LeakyReLU(0.2)
        ).to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.ones = torch.ones(c.batch_size, 1, device=device)  # (B, 1)
        self.zeros = torch.zeros(c.batch_size, 1, device=device)  # (B, 1)

    @staticmethod
    def _mlp(sizes: Sequence[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), activation()]
        return nn.Sequential(*layers[:-1])

    def real_batch(self) -> torch.Tensor:
        """B fresh samples of the ring, (B, dim)."""
        B, dev = self.batch, self.device
        which = torch.randint(len(self.modes), (B,), device=dev)
        noise = torch.randn(B, self.modes.shape[1], device=dev)
        return self.modes[which] + self.std * noise  # (B, dim)

    def train(self, steps: int) -> None:
        """Run `steps` iterations (k D-steps, then one G-step each)."""
        B, dev = self.batch, self.device
        for _ in range(steps):
            for _ in range(self.k):
                real = self.real_batch()  # (B, dim)
                fake = self.G(torch.randn(B, self.z_dim, device=dev))  # (B, dim)
                self.opt_d.zero_grad()
                loss_d = F.binary_cross_entropy_with_logits(
                    self.D(real), self.ones
                ) + F.binary_cross_entropy_with_logits(self.D(fake.detach()), self.zeros)
                loss_d.backward()
                self.opt_d.step()

            self.opt_g.zero_grad()
            fake = self.G(torch.randn(B, self.z_dim, device=dev))  # (B, dim)
            loss_g = F.binary_cross_entropy_with_logits(self.D(fake), self.ones)
            loss_g.backward()
            self.opt_g.step()
