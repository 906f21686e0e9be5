"""The bench's DCGAN figure: the trainer against a plain-PyTorch DCGAN loop, replicas, and
the metric cost, on the `digits` target (8x8, one stride-2 block per network).

Each is a ratio of two things timed in the same run, interleaved round by round, as the MLP
figures (bench/figures.py) are.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch
from torch import nn

from ganstudy.bench.figures import eval_cost, trainer_rate
from ganstudy.bench.reference import ReferenceGAN, bench_config
from ganstudy.bench.settings import Settings
from ganstudy.bench.timing import Rate, interleave, ratio_summary
from ganstudy.config import TrialConfig
from ganstudy.engine.targets import make_target
from ganstudy.engine.trainer import Trainer

POOL = 8192  # training images the reference loop samples its batches from


def dcgan_config(width: int, batch: int, replicas: int = 1, **changes: Any) -> TrialConfig:
    """bench_config's trainer (nonsaturating, Adam, k = 1, metrics off) as dcgan on digits,
    both nets `width` channels."""
    return bench_config(width, batch, replicas, target="digits", model="dcgan", **changes)


class ReferenceDCGAN(ReferenceGAN):
    """The obvious plain-PyTorch DCGAN loop (pytorch/examples' dcgan/main.py) at the sizes of
    ganstudy's dcgan family for an 8x8 target (one block per network).

    G: Linear(z, 16·C, no bias) -> BatchNorm2d -> ReLU -> ConvTranspose2d(C, 1, 4, 2, 1) ->
    tanh; D: Conv2d(1, C, 4, 2, 1) -> LeakyReLU(0.2) -> Linear(16·C, 1). BCE with logits,
    non-saturating G loss, Adam; k D-steps on fresh real batches and detached fakes, then one
    G-step, as Algorithm 1 and the trainer have it (real and fake through D separately, as
    DCGAN's own loop and the trainer do for BatchNorm models).
    """

    def __init__(self, config: TrialConfig, device: torch.device, seed: int = 0):
        c = config
        torch.manual_seed(seed)
        target = make_target(c.target, c.target_scale, c.target_std)
        # A pool of training images drawn once (the trainer draws from the same split).
        pool = target.sample(POOL, torch.Generator().manual_seed(seed))  # (POOL, 64)
        self.images = pool.to(device, torch.float32).reshape(-1, *target.shape)
        self.batch, self.z_dim, self.k, self.device = c.batch_size, c.z_dim, c.k, device
        width = c.g_width
        self.G = nn.Sequential(
            nn.Linear(c.z_dim, 16 * width, bias=False),
            nn.Unflatten(1, (width, 4, 4)),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
            nn.Tanh(),
        ).to(device)
        self.D = nn.Sequential(
            nn.Conv2d(1, c.d_width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(16 * c.d_width, 1),
        ).to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.ones = torch.ones(c.batch_size, 1, device=device)  # (B, 1)
        self.zeros = torch.zeros(c.batch_size, 1, device=device)  # (B, 1)

    def real_batch(self) -> torch.Tensor:
        """B training images from the pool, (B, 1, 8, 8); `train` is ReferenceGAN's."""
        return self.images[torch.randint(len(self.images), (self.batch,), device=self.device)]


def dcgan_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    """Trainer / reference at R = 1, replica-steps/s at R over R = 1, and the metric cost at
    the default eval cadence, for dcgan on digits."""
    width, batch = s.dcgan_shape
    config = dcgan_config(width, batch, device=device.type)
    reference = Rate(ReferenceDCGAN(config, device).train, device, s.sample_s)
    samplers = {"reference": reference}
    for R in s.dcgan_replicas:
        config_r = dcgan_config(width, batch, R, device=device.type)
        samplers[f"r{R}"] = trainer_rate(config_r, s.sample_s)
    v = interleave(samplers, s.rounds)
    replicas = [
        {
            "replicas": R,
            "speedup": ratio_summary(v[f"r{R}"], v["r1"], scale=R),
            "replica_steps_per_s": R * statistics.median(v[f"r{R}"]),
        }
        for R in s.dcgan_replicas
    ]
    return {
        "what": f"dcgan on digits, width {width}, batch {batch}: trainer / plain-PyTorch "
        "loop at R = 1; replica-steps/s at R / at R = 1; metric cost at the default cadence",
        "width": width,
        "batch": batch,
        "reference": {
            "ratio": ratio_summary(v["r1"], v["reference"]),
            "reference_steps_per_s": statistics.median(v["reference"]),
            "trainer_steps_per_s": statistics.median(v["r1"]),
        },
        "replicas": replicas,
        "metrics": _metric_cost(s, device, width, batch),
    }


def _metric_cost(s: Settings, device: torch.device, width: int, batch: int) -> dict[str, Any]:
    """evaluate() / (eval_every training steps), R = 1, at the default cadence and eval size
    (quick mode: smaller ones, said in the row); see figures.eval_cost."""
    every = s.dcgan_eval_every or TrialConfig().eval_every
    config = dcgan_config(
        width,
        batch,
        device=device.type,
        steps=10 * every,
        eval_every=every,
        eval_samples=s.dcgan_eval_samples,  # None: the target's default, as a study has it
    )
    trainer = Trainer(config, threads=torch.get_num_threads())
    samples = s.dcgan_eval_samples or trainer.target.default_eval_samples
    return {"eval_samples": samples, **eval_cost(trainer, every, s.metric_rounds)}
