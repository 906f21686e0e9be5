"""Every `eval_every` steps: all metrics (columns.METRIC_COLUMNS) for every replica.

An evaluation draws its own randomness (streams.STREAM_EVAL, seeded by the step), so
measuring never changes training. It passes G's samples and D's outputs to the pure
functions of metrics.py; what stays fixed across evaluations (the held-out features and
their k-NN radii, the snapshot noise) is computed once per trainer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import TrialConfig
from ganstudy.engine import metrics
from ganstudy.engine.losses import get_loss
from ganstudy.engine.models import ReplicaModule
from ganstudy.engine.sample_metrics import SampleMetrics, samples_needed
from ganstudy.engine.streams import STREAM_EVAL, STREAM_SNAPSHOT, mixed_seed
from ganstudy.engine.targets import Target
from ganstudy.engine.updates import critic_outputs, pack

SNAPSHOT_POINTS = 256  # generated points kept per replica per eval (samples.parquet)


@dataclass
class Evaluation:
    """One eval step: a metrics row per replica, a snapshot of generated points and each
    mode's occupancy."""

    step: int
    rows: list[dict[str, Any]]
    samples: np.ndarray  # (replicas, SNAPSHOT_POINTS, dim) float32, flat like target.sample
    # (replicas, n_modes) int64: high-quality samples of the coverage_samples per mode, the
    # counts modes_captured thresholds (metrics.mode_counts); all 0 for a diverged replica.
    modes: np.ndarray


# Points (all replicas together) per chunk of an eval forward pass, by device type: a CPU
# chunk stays in cache; a GPU needs big launches (a chunk of 4096 rows at R = 64 would be
# thousands of tiny kernels) and has the memory for them.
EVAL_CHUNK_ROWS = {"cpu": 4096, "cuda": 1 << 20}


def chunked(
    module: ReplicaModule, x: torch.Tensor, batch_size: int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """module(x) (or module(x, labels), labels (R, N), for a conditional module) for x
    (R, N, ...) in chunks along N of about EVAL_CHUNK_ROWS[device] points.

    Why: the eval passes over 20k points per replica make activations of ~10 MB per layer
    that spill out of the CPU caches; chunks that stay in cache are 1.4x (R = 1) to 2x
    (R = 4) faster. Rows are independent, so the result is bit-identical. A module with
    batch statistics (BatchNorm) sees chunks of `batch_size` per replica instead: the
    batches it trained on, the same whatever R (so a replica measures alike alone or not).
    """
    rows = EVAL_CHUNK_ROWS.get(x.device.type, EVAL_CHUNK_ROWS["cpu"])
    size = batch_size if module.batch_statistics else max(256, rows // x.shape[0])
    if labels is None:
        parts = [module(part) for part in x.split(size, dim=1)]
    else:
        pairs = zip(x.split(size, 1), labels.split(size, 1), strict=True)
        parts = [module(part, part_labels) for part, part_labels in pairs]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class Evaluator:
    """Measures the replicas of one trainer (a configuration's, or a fused group's)."""

    def __init__(
        self,
        members: Sequence[TrialConfig],
        target: Target,
        seeds: Sequence[int],
        label_frequencies: torch.Tensor | None,
        device: torch.device,
        dtype: torch.dtype,
    ):
        self.members, self.config = tuple(members), members[0]
        self.target, self.seeds = target, list(seeds)
        self.label_frequencies = label_frequencies  # a conditional G's label proportions
        self.device, self.dtype = device, dtype
        self.sample_metrics = SampleMetrics(target, device)  # what samples alone tell
        self._snapshot_inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None

    @torch.no_grad()
    def evaluate(
        self,
        G: ReplicaModule,
        D: ReplicaModule,
        step: int,
        training: dict[str, torch.Tensor],
        history: list[dict[str, Any]],
    ) -> Evaluation:
        """All metrics for every replica at `step`; `training` holds the window's losses and
        gradient norms (R,) each; `history` the earlier rows (for each replica's outcome)."""
        G.eval()
        D.eval()
        try:
            values, counts, finite = self._measure(G, D, step)
            values |= training
            samples = self._snapshot(G).float().cpu().numpy()
        finally:
            G.train()
            D.train()
        # A replica whose parameters went non-finite has diverged: all its numbers are NaN.
        table = torch.stack(
            [values[name].to(torch.float64) for name in METRIC_COLUMNS], 1
        )  # (R, M)
        table = torch.where(finite[:, None], table, torch.full_like(table, math.nan)).cpu().tolist()
        modes = torch.where(finite[:, None], counts, 0).cpu().numpy()  # (R, n_modes)
        return Evaluation(step, self._rows(step, table, history), samples, modes)

    def _measure(
        self, G: ReplicaModule, D: ReplicaModule, step: int
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(the metrics (R,) each but the training window's, mode counts (R, n_modes), which
        replicas are finite (R,))."""
        c = self.config
        real, real_labels, fake_shaped, fake_labels = self._draw(G, step)
        fake = fake_shaped.flatten(2)  # (R, n_fake, dim)
        values = self._judge(D, real, real_labels, fake_shaped, fake_labels)
        measured, counts = self.sample_metrics.measure(real, fake, c)  # (R,) each, counts
        values |= measured
        values["class_accuracy"] = (
            metrics.class_accuracy(
                fake[:, : c.coverage_samples], fake_labels[:, : c.coverage_samples], self.target
            )
            if fake_labels is not None
            else torch.full_like(values["js_binned"], math.nan)
        )
        # One parameter per player (the Dirac-GAN): its trajectory; NaN for real networks.
        theta, psi = G.scalar(), D.scalar()
        nan = torch.full_like(values["js_binned"], math.nan)
        values["theta"] = nan if theta is None else theta
        values["psi"] = nan if psi is None else psi
        values["dirac_distance"] = torch.hypot(values["theta"], values["psi"])
        finite = G.replica_finite() & D.replica_finite()
        return values, counts, finite

    def _draw(self, G: ReplicaModule, step: int) -> tuple[torch.Tensor, ...]:
        """The eval's real points (R, Ne, dim) and their labels (R, Ne), G's fakes shaped as
        models see them (R, n_fake, *shape) and their labels (R, n_fake); labels are None
        unless conditional. One convention: models see (R, N, *target.shape), metrics and
        the snapshots flat (R, N, dim) rows, as target.sample gives them."""
        c, target = self.config, self.target
        gens = [
            torch.Generator(self.device).manual_seed(mixed_seed(seed, STREAM_EVAL, step))
            for seed in self.seeds
        ]
        n_fake = samples_needed(c, target)
        drawn = [target.sample_labeled(c.eval_batch, g) for g in gens]
        real = torch.stack([x for x, _ in drawn]).to(self.dtype)  # (R, Ne, dim)
        z = torch.stack(
            [
                torch.randn(n_fake, c.z_dim, generator=g, device=g.device, dtype=self.dtype)
                for g in gens
            ]
        )
        # A conditional trial: the real points' own labels, and labels for the fakes drawn
        # in the data's proportions (after z, so an unconditional eval draws as ever).
        real_labels = fake_labels = None
        if c.conditional:
            real_labels = torch.stack([y for _, y in drawn])  # (R, Ne)
            freq = self.label_frequencies
            fake_labels = torch.stack(
                [torch.multinomial(freq, n_fake, True, generator=g) for g in gens]
            )  # (R, n_fake)
        fake_shaped = chunked(G, z, c.batch_size, fake_labels)  # (R, n_fake, ...)
        return real, real_labels, fake_shaped, fake_labels

    def _judge(
        self,
        D: ReplicaModule,
        real: torch.Tensor,
        real_labels: torch.Tensor | None,
        fake_shaped: torch.Tensor,
        fake_labels: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """D's outputs on eval_batch real points and as many fakes, in packs of `pack`
        (PacGAN), as metrics.discriminator_outputs reads them."""
        c = self.config
        n, m = c.eval_batch, c.pack
        real_shaped = real.reshape(*real.shape[:2], *self.target.shape)  # (R, Ne, *shape)
        fake_labels_n = None if fake_labels is None else fake_labels[:, :n]  # (pack is 1)

        def critic(x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
            return chunked(D, x, c.batch_size // m, labels)

        out = critic_outputs(
            critic,
            D.batch_statistics,
            pack(real_shaped, m),  # (R, n // m, m·shape[0], ...)
            pack(fake_shaped[:, :n], m),
            real_labels,
            fake_labels_n,
        )  # (R, 2·(n // m))
        p = n // m
        return self._discriminator_outputs(out[:, :p], out[:, p:])

    def _rows(
        self, step: int, table: list[list[float]], history: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """One row per replica: its keys, its metrics, and its outcome so far."""
        c, rows = self.config, []
        for i, numbers in enumerate(table):
            member, r = divmod(i, c.replicas)
            row: dict[str, Any] = {"step": step, "replica": r, "seed": self.seeds[i]}
            if len(self.members) > 1:  # a fused group: whose replica this is
                row["member"] = member
            row |= dict(zip(METRIC_COLUMNS, numbers, strict=True))
            row["n_modes"] = self.target.n_modes
            past = [h for h in history if h["replica"] == r and h.get("member", 0) == member]
            row["outcome"] = metrics.classify_outcome(past + [row], self.target.n_modes)
            rows.append(row)
        return rows

    def _snapshot(self, G: ReplicaModule) -> torch.Tensor:
        """G's samples (R, SNAPSHOT_POINTS, dim) of a fixed noise per replica (drawn once
        from its own stream), so the snapshots of successive evals show the same z as
        training moves G; a conditional G asks sample i for label i mod n_modes."""
        c = self.config
        if self._snapshot_inputs is None:
            z = torch.stack(
                [
                    torch.randn(
                        SNAPSHOT_POINTS,
                        c.z_dim,
                        generator=torch.Generator(self.device).manual_seed(
                            mixed_seed(seed, STREAM_SNAPSHOT)
                        ),
                        device=self.device,
                        dtype=self.dtype,
                    )
                    for seed in self.seeds
                ]
            )  # (R, SNAPSHOT_POINTS, z_dim)
            labels = None
            if c.conditional:
                index = torch.arange(SNAPSHOT_POINTS, device=self.device) % self.target.n_modes
                labels = index.expand(len(self.seeds), -1)  # (R, SNAPSHOT_POINTS)
            self._snapshot_inputs = (z, labels)
        z, labels = self._snapshot_inputs
        return chunked(G, z, c.batch_size, labels).flatten(2)

    def _discriminator_outputs(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """metrics.discriminator_outputs of D's raw outputs (R, n) member by member (whether
        D's output is a probability is its loss's)."""
        parts = []
        for m, member in enumerate(self.members):
            rows = slice(m * member.replicas, (m + 1) * member.replicas)
            probability = get_loss(member.loss).probability
            parts.append(metrics.discriminator_outputs(real[rows], fake[rows], probability))
        if len(parts) == 1:
            return parts[0]
        return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
