"""Algorithm 1 of Goodfellow et al. (2014): k discriminator steps, then one generator step
(and its variants: g_steps, simultaneous updates, packing, unrolling; see updates.py).

The trainer is a plain Python object: no Ray, YAML or files. It trains `replicas` seeds of
one configuration as one batched model (every parameter has a leading replica axis, losses
are summed over replicas so gradients stay independent, one element-wise optimizer steps
them all), evaluates every `eval_every` steps, and can save and restore its full state.

    trainer = Trainer(TrialConfig(target="ring8", k=2))
    for evaluation in trainer.run():
        print(evaluation.rows)

Given several configurations that differ only in fusable settings (fusing.py), it trains
them all as one model: `Trainer([config_a, config_b])` holds 2·replicas replicas, member
m's at rows [m·R, (m+1)·R), and each of its eval rows names its `member`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganstudy import metrics, updates
from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import TrialConfig, to_dict
from ganstudy.fusing import check_members, per_replica
from ganstudy.hostmemory import keep_freed_memory
from ganstudy.losses import get_loss
from ganstudy.models import ReplicaModule, make_models
from ganstudy.optim import replica_optimizer, set_hyperparameters
from ganstudy.targets import Target, make_target
from ganstudy.updates import Players, pack, replica_settings

BLOCK_STEPS = 16  # training randomness is drawn 16 steps at a time: R calls, not 16·R
SNAPSHOT_POINTS = 256  # generated points kept per replica per eval (samples.parquet)

# Distinct purposes get independent seed streams from one (seed + replica):
# mixed_seed(seed + r, STREAM_...).
STREAM_INIT, STREAM_TRAIN, STREAM_EVAL, STREAM_SNAPSHOT = 0, 1, 2, 3


def mixed_seed(*words: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0] >> 1)


def describe_device(device: torch.device) -> dict[str, str | None]:
    """{"name": "cpu" or the GPU's name, "cuda": torch's CUDA version on a GPU, else None}."""
    if device.type != "cuda":
        return {"name": device.type, "cuda": None}
    return {"name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda}


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device: 'cuda' was asked for but no CUDA device is visible; use device=auto or cpu"
        )
    return torch.device(name)


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


class Trainer:
    """Trains one TrialConfig's replicas, or a fused group's; see the module docstring."""

    def __init__(self, config: TrialConfig | Sequence[TrialConfig]):
        members = (config,) if isinstance(config, TrialConfig) else tuple(config)
        check_members(members)
        self.members = members
        # The settings every member shares (shapes, schedule, evaluation); the fusable ones
        # (fusing.FUSABLE) are read per member, never from here.
        self.config = c = members[0]
        self.replicas = len(members) * c.replicas  # all of the group's, member-major
        self.seeds = replica_seeds(members)
        self.device = resolve_device(c.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # no page faults on each step's fresh tensors (hostmemory.py)
        self.dtype = getattr(torch, c.dtype)
        if self.device.type == "cuda" and self.dtype == torch.float64:
            warnings.warn(
                "dtype float64 on a GPU runs at a fraction of float32's speed on most cards; "
                "use dtype: float32 unless you need float64's exactness",
                stacklevel=2,
            )
        self.target = make_target(c.target, c.target_scale, c.target_std, c.data_dir)
        self.loss = get_loss(c.loss)  # member 0's (a trainer of one configuration: its loss)
        self.binning = self.target.binning()
        self.data_masses = self.target.bin_masses(self.binning).to(self.device)

        inits = [torch.Generator().manual_seed(mixed_seed(s, STREAM_INIT)) for s in self.seeds]
        self.generator, self.discriminator = make_models(
            c.replace(replicas=self.replicas), self.target, inits
        )
        self.generator.to(self.device, self.dtype)
        self.discriminator.to(self.device, self.dtype)
        self.opt_g = self._optimizer(self.generator, "lr_g")
        self.opt_d = self._optimizer(self.discriminator, "lr_d")
        self.streams = ReplicaStreams(members, self.target, self.device, self.dtype)
        settings = replica_settings(members, self.device, self.dtype)
        self.players = Players(
            c, settings, self.generator, self.discriminator, self.opt_g, self.opt_d
        )

        self.step = 0  # iterations done
        self.d_updates = 0  # D optimizer steps done (k per iteration)
        self.g_updates = 0  # G optimizer steps done (g_steps per iteration)
        self.history: list[dict[str, Any]] = []  # every eval row so far, all replicas
        self._real_features: torch.Tensor | None = None  # held-out features, on first eval
        self._real_radii: torch.Tensor | None = None  # their k-NN radii (precision_recall)
        self._snapshot_inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._reset_window()

    # ----------------------------------------------------------------------------- training
    def train(self, steps: int) -> None:
        """Run `steps` iterations (no evaluation, no host sync)."""
        for _ in range(steps):
            # Gradient norms are measured only on the iteration just before an eval.
            measure = (
                self.step + 1
            ) % self.config.eval_every == 0 or self.step + 1 == self.config.steps
            self._iteration(self.streams.draw(self.step), measure)
            self.step += 1

    def _iteration(self, batch: dict[str, torch.Tensor], measure: bool) -> None:
        # The schedule (alternating or simultaneous, k, g_steps) and the remedies (pack,
        # unroll) live in updates.py; the trainer keeps the counts and the loss window.
        c = self.config
        stats = updates.iteration(self.players, batch, measure)
        self.d_updates += c.k
        self.g_updates += c.g_steps
        self._loss_sum_d += stats.loss_d
        self._loss_sum_g += stats.loss_g
        if stats.grad_norm_d is not None:
            self._grad_norm_d = stats.grad_norm_d
        if stats.grad_norm_g is not None:
            self._grad_norm_g = stats.grad_norm_g
        self._window_steps += 1

    def _optimizer_settings(self, lr: str) -> dict[str, list[float]]:
        """Each replica's optimizer settings (lr = "lr_d" or "lr_g"), member by member."""
        names = ("beta1", "beta2") if self.config.optimizer == "adam" else ("momentum",)
        rows = per_replica(self.members)
        return {"lr": [getattr(m, lr) for m in rows]} | {
            name: [getattr(m, name) for m in rows] for name in names
        }

    def _optimizer(self, module: ReplicaModule, lr: str) -> torch.optim.Optimizer:
        # Adam and SGD act element-wise, so one optimizer over the batched parameters equals
        # one optimizer per replica (optim.py: per-replica settings where members differ).
        settings = self._optimizer_settings(lr)
        return replica_optimizer(self.config.optimizer, module.parameters(), settings)

    def set_learning_rates(self, lr_d: float, lr_g: float) -> None:
        """Change the optimizers' learning rates (PBT's perturbations must reach them; a
        trainer of one configuration)."""
        for optimizer, lr in ((self.opt_d, lr_d), (self.opt_g, lr_g)):
            set_hyperparameters(optimizer, lr=[lr] * self.replicas)

    def _apply_optimizer_settings(self) -> None:
        """Write the members' lr, betas / momentum into the optimizers (an optimizer's
        load_state_dict restores the checkpoint's, which would undo a PBT mutation)."""
        set_hyperparameters(self.opt_d, **self._optimizer_settings("lr_d"))
        set_hyperparameters(self.opt_g, **self._optimizer_settings("lr_g"))

    def _reset_window(self) -> None:
        zeros = torch.zeros(self.replicas, device=self.device, dtype=self.dtype)
        self._loss_sum_d, self._loss_sum_g = zeros.clone(), zeros.clone()
        self._window_steps = 0
        self._grad_norm_d = torch.full_like(zeros, math.nan)
        self._grad_norm_g = torch.full_like(zeros, math.nan)

    # --------------------------------------------------------------------------- evaluation
    def run(self) -> Iterator[Evaluation]:
        """Evaluate at step 0 (on a fresh trainer), then train to each eval step and evaluate,
        up to `steps`. A restored trainer continues from its step."""
        c = self.config
        if not self.history:
            yield self.evaluate()
        while self.step < c.steps:
            next_eval = min((self.step // c.eval_every + 1) * c.eval_every, c.steps)
            self.train(next_eval - self.step)
            yield self.evaluate()

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        """All metrics for every replica at the current step (fresh eval randomness that
        leaves the training streams untouched, so measuring never changes training)."""
        c, target = self.config, self.target
        self.generator.eval()
        self.discriminator.eval()
        gens = [
            torch.Generator(self.device).manual_seed(mixed_seed(seed, STREAM_EVAL, self.step))
            for seed in self.seeds
        ]
        n_binned = c.eval_samples or target.default_eval_samples  # js_binned's fakes
        n_fake = max(n_binned, c.eval_batch, c.coverage_samples)
        # One convention: models see samples as (R, N, *target.shape), metrics and the
        # snapshots as flat (R, N, dim) rows, as target.sample gives them.
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
            freq = self.streams.label_frequencies
            fake_labels = torch.stack(
                [torch.multinomial(freq, n_fake, True, generator=g) for g in gens]
            )  # (R, n_fake)
        fake_shaped = chunked(self.generator, z, c.batch_size, fake_labels)  # (R, n_fake, ...)
        fake = fake_shaped.flatten(2)  # (R, n_fake, dim)
        n = c.eval_batch
        real_shaped = real.reshape(*real.shape[:2], *target.shape)  # (R, Ne, *shape)
        D, m = self.discriminator, c.pack  # D judges packs of m samples (PacGAN)
        real_packed = pack(real_shaped, m)  # (R, n // m, m·shape[0], ...)
        fake_packed = pack(fake_shaped[:, :n], m)
        fake_labels_n = None if fake_labels is None else fake_labels[:, :n]  # (pack is 1)
        if D.batch_statistics:  # as in training: real and fake batches apart
            out = torch.cat(
                [
                    chunked(D, real_packed, c.batch_size // m, real_labels),
                    chunked(D, fake_packed, c.batch_size // m, fake_labels_n),
                ],
                dim=1,
            )[..., 0]  # (R, 2·(n // m))
        else:
            both = torch.cat([real_packed, fake_packed], dim=1)
            labels = None if real_labels is None else torch.cat([real_labels, fake_labels_n], 1)
            out = chunked(D, both, c.batch_size // m, labels)[..., 0]  # (R, 2·(n // m))
        p = n // m
        values = self._discriminator_outputs(out[:, :p], out[:, p:])
        half = n // 2
        probe_real, probe_fake = self._probe_space(real, fake[:, :n])  # (R, n, dim or F)
        values["js_probe"] = metrics.js_probe(
            probe_real[:, :half],
            probe_fake[:, :half],
            probe_real[:, half:],
            probe_fake[:, half:],
        )
        points = target.binned_points(fake[:, :n_binned])
        values["js_binned"] = metrics.js_binned(points, self.binning, self.data_masses)
        coverage = fake[:, : c.coverage_samples]
        counts = metrics.mode_counts(coverage, target, c.quality_sigmas)  # (R, n_modes)
        values |= metrics.coverage_of_counts(
            counts, coverage.shape[1], c.coverage_min_count, coverage.dtype
        )
        values["class_accuracy"] = (
            metrics.class_accuracy(
                fake[:, : c.coverage_samples], fake_labels[:, : c.coverage_samples], target
            )
            if fake_labels is not None
            else torch.full_like(values["js_binned"], math.nan)
        )
        values |= self._feature_metrics(fake)
        steps = max(self._window_steps, 1)
        values["loss_d"] = (
            self._loss_sum_d / (steps * c.k) if self._window_steps else self._loss_sum_d * math.nan
        )
        values["loss_g"] = (
            self._loss_sum_g / (steps * c.g_steps)
            if self._window_steps
            else self._loss_sum_g * math.nan
        )
        values["grad_norm_d"], values["grad_norm_g"] = self._grad_norm_d, self._grad_norm_g
        # One parameter per player (the Dirac-GAN): its trajectory; NaN for real networks.
        theta, psi = self.generator.scalar(), self.discriminator.scalar()
        nan = torch.full_like(self._loss_sum_d, math.nan)
        values["theta"] = nan if theta is None else theta
        values["psi"] = nan if psi is None else psi
        values["dirac_distance"] = torch.hypot(values["theta"], values["psi"])

        # A replica whose parameters went non-finite has diverged: all its numbers are NaN.
        finite = self.generator.replica_finite() & self.discriminator.replica_finite()
        table = torch.stack(
            [values[name].to(torch.float64) for name in METRIC_COLUMNS], 1
        )  # (R, M)
        table = torch.where(finite[:, None], table, torch.full_like(table, math.nan)).cpu().tolist()
        samples = self._snapshot().float().cpu().numpy()
        modes = torch.where(finite[:, None], counts, 0).cpu().numpy()  # (R, n_modes)

        rows = []
        for i, numbers in enumerate(table):
            member, r = divmod(i, c.replicas)
            row: dict[str, Any] = {"step": self.step, "replica": r, "seed": self.seeds[i]}
            if len(self.members) > 1:  # a fused group: whose replica this is
                row["member"] = member
            row |= dict(zip(METRIC_COLUMNS, numbers, strict=True))
            row["n_modes"] = target.n_modes
            past = [h for h in self.history if h["replica"] == r and h.get("member", 0) == member]
            row["outcome"] = metrics.classify_outcome(past + [row], target.n_modes)
            rows.append(row)
        self.history.extend(rows)
        self._reset_window()
        self.generator.train()
        self.discriminator.train()
        return Evaluation(self.step, rows, samples, modes)

    def _snapshot(self) -> torch.Tensor:
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
                labels = index.expand(self.replicas, -1)  # (R, SNAPSHOT_POINTS)
            self._snapshot_inputs = (z, labels)
        z, labels = self._snapshot_inputs
        return chunked(self.generator, z, c.batch_size, labels).flatten(2)

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

    def _probe_space(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """js_probe's points: the target classifier's features of real and fake (R, n, dim)
        where it has them, else the samples. Why: Euclidean neighbours among raw pixels
        rank images by stroke overlap, not by what they show; the features are the space
        fd, precision and recall already measure in."""
        real_features = self.target.features(real)  # (R, n, F) or None
        if real_features is None:
            return real, fake
        return real_features, self.target.features(fake)

    def _feature_metrics(self, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """fd, precision and recall of the first metrics.FEATURE_POINTS fakes (R, N, dim) in
        the target's classifier's feature space, against a fixed held-out sample of the
        same size (its features computed once per trainer); NaN without features."""
        n = min(metrics.FEATURE_POINTS, fake.shape[1])
        fake_features = self.target.features(fake[:, :n])  # (R, n, F) or None
        if fake_features is None:
            nan = torch.full((fake.shape[0],), math.nan, device=fake.device, dtype=fake.dtype)
            return {"fd": nan, "precision": nan, "recall": nan}
        if self._real_features is None:  # fixed data: the same reference at every eval
            held_out = self.target.held_out_features(metrics.FEATURE_POINTS)
            self._real_features = held_out.to(self.device, torch.float64)  # (N, F)
            self._real_radii = metrics.kth_neighbour_radius(self._real_features[None])[0]
        real = self._real_features
        return {"fd": metrics.frechet_distance(real, fake_features)} | (
            metrics.precision_recall(real, fake_features, real_radii=self._real_radii)
        )

    # ------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-exactly: models, optimizers, RNG, step, history."""
        return {
            "config": to_dict(self.config),
            "members": [to_dict(m) for m in self.members],
            "step": self.step,
            "d_updates": self.d_updates,
            "g_updates": self.g_updates,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "streams": self.streams.state_dict(),
            "window": {
                "loss_sum_d": self._loss_sum_d,
                "loss_sum_g": self._loss_sum_g,
                "steps": self._window_steps,
                "grad_norm_d": self._grad_norm_d,
                "grad_norm_g": self._grad_norm_g,
            },
            "history": self.history,
            "device": describe_device(self.device),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state_dict. The optimizer settings (learning rates, betas, momentum) stay
        this trainer's config's, so a PBT clone restored from another trial's checkpoint
        trains with its own perturbed values."""
        self.step = state["step"]
        self.d_updates = state["d_updates"]
        self.g_updates = state.get("g_updates", state["step"])  # older checkpoints: g_steps 1
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self._apply_optimizer_settings()
        self.streams.load_state_dict(state["streams"], state["step"])
        window = state["window"]
        self._loss_sum_d = window["loss_sum_d"].to(self.device)
        self._loss_sum_g = window["loss_sum_g"].to(self.device)
        self._window_steps = window["steps"]
        self._grad_norm_d = window["grad_norm_d"].to(self.device)
        self._grad_norm_g = window["grad_norm_g"].to(self.device)
        self.history = list(state["history"])
