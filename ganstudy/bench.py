"""`ganstudy bench`: how fast the engine trains, as ratios measured side by side.

Five figures (issue 6), each a ratio of two things timed in the same run, interleaved round
by round (A B, then B A, ...) so that slow drifts of the machine (other processes, clock
boosts) hit both sides alike; each figure is the median over rounds of the per-round ratio,
with the spread (min, max) beside it. Absolute rates are kept in the JSON for context only.

1. reference  a plain PyTorch GAN loop written the obvious way vs the trainer, metrics off
2. replicas   replica-steps/s at R replicas vs R = 1
3. hardware   the trainer's achieved matmul GFLOP/s vs a large float32 matmul's
4. metrics    train + evaluate at the default eval_every vs train alone
5. study      a small study through Ray Tune vs the same trials back to back, relative to
              the ideal (sum of trial times / concurrent slots); Ray start-up apart, and
              the same trials on plain worker processes to tell the machine's own cost of
              running side by side from Ray's

Everything in this process runs on `threads` torch threads (default: every core); the
study's trials run on one thread each, as a trial with resources.cpu = 1 does.

    result = run_bench(quick=True)
    print(format_table(result))
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganstudy.config import TrialConfig
from ganstudy.targets import make_target
from ganstudy.trainer import BLOCK_STEPS, Trainer, resolve_device


def default_threads() -> int:
    """Every core this process may use (torch's own default): the figures are about the
    machine. The reference loop, the trainer and the matmul ceiling all run on this count.
    (A study trial runs on its resources.cpu threads; `run_bench(threads=1)` shows that.)"""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


NEVER = 10**9  # steps / eval_every of a trainer that must never evaluate (metrics off)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How much measuring each mode does."""

    rounds: int  # interleaved rounds per figure (the median is over these)
    sample_s: float  # target seconds of one timed sample (steps chosen to fill it)
    reference_shapes: tuple[tuple[int, int], ...]  # (width, batch)
    replica_shapes: dict[tuple[int, int], tuple[int, ...]]  # (width, batch) -> R list
    ceiling_replicas: tuple[int, ...]  # trainer R values in the hardware figure
    metric_replicas: tuple[int, ...]  # R values of the metric-cost figure
    metric_rounds: int
    study_trials: int  # trials of the study figure (a grid; all the same cost)
    study_trial_s: float  # target length of one trial (back to back, 1 thread)
    study_rounds: int


QUICK = Settings(
    rounds=3,
    sample_s=0.04,
    reference_shapes=((32, 64), (128, 256)),
    replica_shapes={(32, 64): (1, 8, 32), (128, 256): (1, 8)},
    ceiling_replicas=(1, 8),
    metric_replicas=(1,),
    metric_rounds=2,
    study_trials=2,
    study_trial_s=1.0,
    study_rounds=1,
)
FULL = Settings(
    rounds=7,
    sample_s=0.25,
    reference_shapes=((32, 64), (32, 256), (128, 64), (128, 256)),
    replica_shapes={(32, 64): (1, 8, 32, 128), (128, 256): (1, 8, 32, 128)},
    ceiling_replicas=(1, 8, 32),
    metric_replicas=(1, 4),
    metric_rounds=5,
    study_trials=4,
    study_trial_s=36.0,  # >= 30 s trials measured, not projected (the target is for those)
    study_rounds=1,
)

# The targets. The study target is for trials of >= 30 s; shorter measured trials
# are projected to 30 s (see _study_figure).
REPLICA_TARGET = 10.0  # R = 32 vs R = 1, width 32, batch 64
REFERENCE_TARGET = 1.0  # trainer / reference steps per second, width >= 128
CEILING_TARGET = 0.5  # fraction of the matmul ceiling, width 128, batch 256, R = 1
METRIC_TARGET = 0.10  # extra time for metrics at the default cadence
STUDY_TARGET = 1.15  # study wall time / ideal, Ray start-up excluded
STUDY_TARGET_TRIAL_S = 30.0


# ------------------------------------------------------------------------------ timing
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _now(device: torch.device) -> float:
    """Wall time after the device has finished the work queued so far."""
    _synchronize(device)
    return time.perf_counter()


def _summary(values: Sequence[float]) -> dict[str, Any]:
    """Median and spread of per-round values."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "rounds": list(values),
    }


class Rate:
    """A thing that does `n` units of work per sample and reports units per second."""

    def __init__(self, work: Callable[[int], None], device: torch.device, sample_s: float):
        self.work, self.device = work, device
        self.n = self._calibrate(sample_s)

    def _calibrate(self, sample_s: float) -> int:
        n = 1
        while True:
            start = _now(self.device)
            self.work(n)
            elapsed = _now(self.device) - start
            if elapsed >= sample_s / 4 or n >= 1 << 20:
                break
            n *= 4
        n = max(1, round(n * sample_s / max(elapsed, 1e-9)))
        # Whole blocks of the trainer's randomness, so each sample pays its share of refills.
        return n if n < BLOCK_STEPS else round(n / BLOCK_STEPS) * BLOCK_STEPS

    def __call__(self) -> float:
        start = _now(self.device)
        self.work(self.n)
        return self.n / (_now(self.device) - start)


def interleave(samplers: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call every sampler once per round, the order reversed every other round (after one
    discarded warm-up round), and return each one's values by round."""
    for sample in samplers.values():
        sample()
    values: dict[str, list[float]] = {name: [] for name in samplers}
    names = list(samplers)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            values[name].append(samplers[name]())
    return values


def _ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True)]


# --------------------------------------------------------------------- what is measured
def bench_config(width: int, batch: int, replicas: int = 1, **changes: Any) -> TrialConfig:
    """The bench's trainer configuration: ring8, nonsaturating, Adam, k = 1, both nets
    `width` wide and 2 hidden layers deep (TrialConfig's defaults otherwise), metrics off."""
    return TrialConfig(
        target="ring8",
        loss="nonsaturating",
        k=1,
        g_width=width,
        d_width=width,
        batch_size=batch,
        replicas=replicas,
        steps=NEVER,
        eval_every=NEVER,
        **changes,
    )


def mlp_flops(sizes: Sequence[int], n: int) -> float:
    """Matmul FLOPs of one forward pass of an MLP with layer `sizes` on n inputs."""
    return 2.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def step_flops(config: TrialConfig) -> float:
    """Matmul FLOPs of one iteration of Algorithm 1 (k D-steps, one G-step), all replicas.

    Forward + backward ~ 3x the forward's matmul FLOPs. Per D-step: G forward without
    gradient (1x, B points) and D forward + backward on B real + B fake (3x, 2B). The
    G-step: G forward + backward (3x, B) and D forward + input gradients only (2x, B; D's
    own weight gradients are not needed). Bias adds, activations and the optimizer are
    not counted. The reference loop is credited with the same (useful) FLOPs.
    """
    c = config
    dim = make_target(c.target, c.target_scale, c.target_std).dim
    g = [c.z_dim] + [c.g_width] * c.g_depth + [dim]
    d = [dim] + [c.d_width] * c.d_depth + [1]
    b = c.batch_size
    d_step = mlp_flops(g, b) + 3 * mlp_flops(d, 2 * b)
    g_step = 3 * mlp_flops(g, b) + 2 * mlp_flops(d, b)
    return c.replicas * (c.k * d_step + g_step)


class ReferenceGAN:
    """The obvious plain-PyTorch GAN loop (pytorch/examples' dcgan/main.py style).

    One G and one D of nn.Linear layers, BCE with logits, non-saturating generator loss,
    Adam with torch's defaults for the device, k = 1; fresh real data and noise drawn every
    step, fresh noise for the G-step as Algorithm 1 has it. Same sizes, learning rates and
    data as `bench_config`, so it computes what the trainer computes for R = 1.
    """

    def __init__(self, config: TrialConfig, device: torch.device, seed: int = 0):
        c = config
        torch.manual_seed(seed)
        target = make_target(c.target, c.target_scale, c.target_std)
        self.modes = target.modes.to(device, torch.float32)
        self.std, self.batch, self.z_dim, self.device = target.std, c.batch_size, c.z_dim, device
        self.G = self._mlp([c.z_dim] + [c.g_width] * c.g_depth + [target.dim], nn.ReLU).to(device)
        self.D = self._mlp(
            [target.dim] + [c.d_width] * c.d_depth + [1], lambda: nn.LeakyReLU(0.2)
        ).to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.ones = torch.ones(c.batch_size, 1, device=device)
        self.zeros = torch.zeros(c.batch_size, 1, device=device)

    @staticmethod
    def _mlp(sizes: Sequence[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), activation()]
        return nn.Sequential(*layers[:-1])

    def train(self, steps: int) -> None:
        B, dev = self.batch, self.device
        for _ in range(steps):
            which = torch.randint(len(self.modes), (B,), device=dev)
            real = self.modes[which] + self.std * torch.randn(B, self.modes.shape[1], device=dev)
            fake = self.G(torch.randn(B, self.z_dim, device=dev))
            self.opt_d.zero_grad()
            loss_d = F.binary_cross_entropy_with_logits(
                self.D(real), self.ones
            ) + F.binary_cross_entropy_with_logits(self.D(fake.detach()), self.zeros)
            loss_d.backward()
            self.opt_d.step()

            self.opt_g.zero_grad()
            fake = self.G(torch.randn(B, self.z_dim, device=dev))
            loss_g = F.binary_cross_entropy_with_logits(self.D(fake), self.ones)
            loss_g.backward()
            self.opt_g.step()


def trainer_rate(config: TrialConfig, sample_s: float) -> Rate:
    """Steps per second of a Trainer with metrics off (train() only, never evaluate())."""
    trainer = Trainer(config)
    return Rate(trainer.train, trainer.device, sample_s)


def reference_rate(config: TrialConfig, device: torch.device, sample_s: float) -> Rate:
    return Rate(ReferenceGAN(config, device).train, device, sample_s)


def matmul_rate(device: torch.device, sample_s: float) -> tuple[Rate, float]:
    """Square float32 matmuls (units: matmuls) and the FLOPs of one; large enough to run at
    the BLAS library's peak."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)

    def work(reps: int) -> None:
        for _ in range(reps):
            torch.mm(a, b, out=out)

    return Rate(work, device, sample_s), 2.0 * n**3


# ---------------------------------------------------------------------------- figures
def _reference_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    rows = []
    for width, batch in s.reference_shapes:
        config = bench_config(width, batch, device=device.type)
        ref, ours = reference_rate(config, device, s.sample_s), trainer_rate(config, s.sample_s)
        v = interleave({"reference": ref, "trainer": ours}, s.rounds)
        flops = step_flops(config)
        rows.append(
            {
                "width": width,
                "batch": batch,
                "ratio": _summary(_ratios(v["trainer"], v["reference"])),
                "reference_steps_per_s": statistics.median(v["reference"]),
                "trainer_steps_per_s": statistics.median(v["trainer"]),
                "reference_gflops": statistics.median(v["reference"]) * flops / 1e9,
                "trainer_gflops": statistics.median(v["trainer"]) * flops / 1e9,
            }
        )
    return {
        "what": "trainer steps/s / reference-loop steps/s, R = 1, metrics off",
        "rows": rows,
    }


def _replica_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    rows = []
    for (width, batch), replica_list in s.replica_shapes.items():
        rates = {
            R: trainer_rate(bench_config(width, batch, R, device=device.type), s.sample_s)
            for R in replica_list
        }
        v = interleave({str(R): rate for R, rate in rates.items()}, s.rounds)
        base = v[str(replica_list[0])]
        for R in replica_list:
            rows.append(
                {
                    "width": width,
                    "batch": batch,
                    "replicas": R,
                    # replica-steps/s relative to R = 1, per round
                    "speedup": _summary([R * x / y for x, y in zip(v[str(R)], base, strict=True)]),
                    "replica_steps_per_s": R * statistics.median(v[str(R)]),
                }
            )
    return {"what": "replica-steps/s at R replicas / replica-steps/s at R = 1", "rows": rows}


def _hardware_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    width, batch = 128, 256
    matmul, matmul_flops = matmul_rate(device, s.sample_s)
    samplers: dict[str, Callable[[], float]] = {"matmul": matmul}
    flops: dict[str, float] = {}
    config = bench_config(width, batch, device=device.type)
    samplers["reference"] = reference_rate(config, device, s.sample_s)
    flops["reference"] = step_flops(config)
    for R in s.ceiling_replicas:
        config = bench_config(width, batch, R, device=device.type)
        samplers[f"trainer_r{R}"] = trainer_rate(config, s.sample_s)
        flops[f"trainer_r{R}"] = step_flops(config)
    v = interleave(samplers, s.rounds)
    ceiling = [x * matmul_flops / 1e9 for x in v["matmul"]]
    rows = []
    for name, step in flops.items():
        achieved = [x * step / 1e9 for x in v[name]]
        rows.append(
            {
                "what": name,
                "replicas": 1 if name == "reference" else int(name.removeprefix("trainer_r")),
                "fraction": _summary(_ratios(achieved, ceiling)),
                "gflops": statistics.median(achieved),
            }
        )
    return {
        "what": f"achieved matmul GFLOP/s at width {width}, batch {batch} / large float32 "
        "matmul GFLOP/s (FLOPs counted analytically, see bench.step_flops)",
        "ceiling_gflops": _summary(ceiling),
        "matmul_n": round((matmul_flops / 2) ** (1 / 3)),
        "rows": rows,
    }


def _metric_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    rows = []
    for R in s.metric_replicas:
        config = TrialConfig(replicas=R, device=device.type)  # the defaults: what users get
        trainer = Trainer(config)
        trainer.evaluate()  # step 0, as run() does; also warms every code path up
        every = config.eval_every

        def off(trainer: Trainer = trainer, every: int = every) -> float:
            start = _now(trainer.device)
            trainer.train(every)
            return _now(trainer.device) - start

        def on(trainer: Trainer = trainer, every: int = every) -> float:
            start = _now(trainer.device)
            trainer.train(every)
            trainer.evaluate()
            return _now(trainer.device) - start

        v = interleave({"off": off, "on": on}, s.metric_rounds)
        rows.append(
            {
                "replicas": R,
                "eval_every": every,
                "cost": _summary([a / b - 1 for a, b in zip(v["on"], v["off"], strict=True)]),
                "eval_s": statistics.median(a - b for a, b in zip(v["on"], v["off"], strict=True)),
                "train_s": statistics.median(v["off"]),
            }
        )
    return {
        "what": "(train eval_every steps + evaluate) / (train eval_every steps) - 1, "
        "TrialConfig defaults",
        "rows": rows,
    }


def _study_spec(s: Settings, steps: int, eval_every: int):
    from ganstudy.spec import spec_from_dict

    # A grid of trials of equal cost (only learning rates differ), so the ideal is
    # reachable by any scheduler: sum of trial times / slots. CPU trials of one core each,
    # the default resources, whatever the machine has besides.
    lrs = [1e-3 * 0.8**i for i in range(s.study_trials)]
    return spec_from_dict(
        {
            "name": "bench",
            "target": "ring8",
            "steps": steps,
            "eval_every": eval_every,
            "replicas": 1,
            "seed": 0,
            "metric": "js_binned",
            "mode": "min",
            "resources": {"cpu": 1, "gpu": 0},
            "search": {"algorithm": "grid"},
            "params": {"lr_d": {"grid": lrs}, "device": "cpu"},
        },
        source="<bench>",
    )


def _trial_configs(spec) -> list[TrialConfig]:
    from ganstudy.config import from_dict

    keys = list(spec.dimensions)
    values = [spec.dimensions[k].args for k in keys]
    return [
        from_dict({**spec.fixed, **dict(zip(keys, combo, strict=True))})
        for combo in itertools.product(*values)
    ]


def _run_trial(config: TrialConfig) -> None:
    for _ in Trainer(config).run():
        pass


def _timed_trial(config: TrialConfig) -> float:
    """One trial in a worker process of the plain pool (one thread, as in Ray)."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    _run_trial(config)
    return time.perf_counter() - start


def _warm_worker() -> None:
    """Pool worker start-up: one thread, as in Ray; every op called once by a tiny trial, as
    in the (warm) process that times the trials back to back."""
    torch.set_num_threads(1)
    _run_trial(TrialConfig(steps=2, eval_every=1, eval_samples=256, device="cpu"))


def _worker_pid(_: int) -> int:
    time.sleep(0.1)
    return os.getpid()


def _pool_s(configs: list[TrialConfig], slots: int) -> float:
    """Wall time of the trials on `slots` plain worker processes (no Ray), started and warmed
    up beforehand: what running side by side costs on this machine by itself."""
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    with context.Pool(slots, initializer=_warm_worker) as pool:
        while len(set(pool.map(_worker_pid, range(slots), chunksize=1))) < slots:
            pass  # until every worker has started and answered
        start = time.perf_counter()
        pool.map(_timed_trial, configs, chunksize=1)
        return time.perf_counter() - start


def _study_figure(s: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    import pandas as pd

    # runner first: it sets the environment that keeps the embedded Ray on 127.0.0.1, which
    # Ray reads once, at its first import.
    from ganstudy import runner  # isort: skip

    import ray  # isort: skip

    # Size the trials: default TrialConfig on one thread (as each Ray trial runs, with
    # resources.cpu = 1), steps chosen so one trial takes about study_trial_s back to back.
    eval_every = TrialConfig().eval_every
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sizing = TrialConfig(steps=eval_every, device="cpu")
        _run_trial(sizing)  # warm-up
        start = time.perf_counter()
        _run_trial(sizing)
        per_interval = time.perf_counter() - start
        intervals = max(1, round(s.study_trial_s / per_interval))
        spec = _study_spec(s, intervals * eval_every, eval_every)
        configs = _trial_configs(spec)
        slots = min(len(configs), int(os.cpu_count() or 1))

        rounds: list[dict[str, float]] = []
        for r in range(s.study_rounds):
            log(f"  study round {r + 1}/{s.study_rounds}: {len(configs)} trials back to back")
            trial_s = []
            for config in configs:
                start = time.perf_counter()
                _run_trial(config)
                trial_s.append(time.perf_counter() - start)
            log(f"  study round {r + 1}/{s.study_rounds}: on {slots} plain processes")
            pool_s = _pool_s(configs, slots)
            log(f"  study round {r + 1}/{s.study_rounds}: the same trials through Ray Tune")
            with tempfile.TemporaryDirectory() as folder, _quiet_fds():
                start = time.perf_counter()
                started = runner._start_ray(None, spec)  # the start-up a study does
                ray_start_s = time.perf_counter() - start
                try:
                    start = time.perf_counter()
                    out = runner.run_study(spec, results_dir=Path(folder) / "b", progress=False)
                    study_s = time.perf_counter() - start
                finally:
                    start = time.perf_counter()
                    if started:
                        ray.shutdown()
                    ray_stop_s = time.perf_counter() - start
                trials = pd.read_parquet(Path(out) / "trials.parquet")
                # Each trial's own running time inside its Ray worker (Tune's time_total_s).
                in_ray_s = trials.groupby("trial_id")["wall_s"].first().tolist()
            ideal = sum(trial_s) / slots
            rounds.append(
                {
                    "trial_s": statistics.mean(trial_s),
                    "trial_in_ray_s": statistics.mean(in_ray_s),
                    "ideal_s": ideal,
                    "study_s": study_s,
                    "ray_start_s": ray_start_s,
                    "ray_stop_s": ray_stop_s,
                    "ratio": study_s / ideal,
                    "ratio_with_start": (ray_start_s + study_s + ray_stop_s) / ideal,
                    # Side by side on plain processes, no Ray: the machine's own share ...
                    "pool_ratio": pool_s / ideal,
                    # ... and Ray's, relative to that.
                    "ray_over_pool": study_s / pool_s,
                    # Trials run slower side by side in Ray workers than alone ...
                    "trial_slowdown": statistics.mean(in_ray_s) / statistics.mean(trial_s),
                    # ... and the rest is per-trial start-up, scheduling and table writing.
                    "rest_s": study_s - sum(in_ray_s) / slots,
                    # The excess over the ideal for trials of STUDY_TARGET_TRIAL_S: the
                    # slowdown scales with trial length, the rest is taken as fixed.
                    "ratio_at_target_s": statistics.mean(in_ray_s) / statistics.mean(trial_s)
                    + (study_s - sum(in_ray_s) / slots)
                    / (STUDY_TARGET_TRIAL_S * len(configs) / slots),
                }
            )
    finally:
        torch.set_num_threads(threads)
    keys = [
        "ratio",
        "ratio_with_start",
        "ratio_at_target_s",
        "pool_ratio",
        "ray_over_pool",
        "trial_slowdown",
        "rest_s",
        "ray_start_s",
        "trial_s",
    ]
    return {
        "what": "study wall time through Ray Tune (embedded local Ray, Ray start-up apart) / "
        "ideal (sum of back-to-back trial times / concurrent slots)",
        "trials": len(configs),
        "slots": slots,
        "steps": spec.fixed["steps"],
        "cpu_per_trial": spec.resources.cpu,
        **{key: _summary([r[key] for r in rounds]) for key in keys},
        "rounds": rounds,
    }


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Ray and Tune write to the process's stdout/stderr directly; keep that out of the
    bench's own output (the JSON on stdout above all)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


# ------------------------------------------------------------------------------ targets
def _target(
    figure: str,
    name: str,
    summary: dict[str, Any],
    op: str,
    limit: float,
    unit: str = "x",
    note: str = "",
) -> dict[str, Any]:
    value = summary["median"]
    met = value >= limit if op == ">=" else value <= limit
    # How much better (+) or worse (-) than the target, relative to the target.
    margin = value / limit - 1 if op == ">=" else 1 - value / limit
    return {
        "figure": figure,
        "name": name,
        "value": value,
        "spread": [summary["min"], summary["max"]],
        "op": op,
        "target": limit,
        "met": met,
        "margin": margin,
        "unit": unit,
        "note": note,
    }


def _targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in figures["reference"]["rows"]:
        if row["width"] >= 128:
            out.append(
                _target(
                    "reference",
                    f"trainer / reference, width {row['width']} batch {row['batch']}",
                    row["ratio"],
                    ">=",
                    REFERENCE_TARGET,
                )
            )
    for row in figures["replicas"]["rows"]:
        if (row["width"], row["batch"], row["replicas"]) == (32, 64, 32):
            out.append(
                _target(
                    "replicas",
                    "R=32 / R=1 replica-steps/s, width 32 batch 64",
                    row["speedup"],
                    ">=",
                    REPLICA_TARGET,
                )
            )
    for row in figures["hardware"]["rows"]:
        if row["what"] == "trainer_r1":
            out.append(
                _target(
                    "hardware",
                    "trainer GFLOP/s / matmul ceiling, width 128 batch 256 R=1",
                    row["fraction"],
                    ">=",
                    CEILING_TARGET,
                    unit="%",
                )
            )
    for row in figures["metrics"]["rows"]:
        out.append(
            _target(
                "metrics",
                f"metric cost at eval_every={row['eval_every']}, R={row['replicas']}",
                row["cost"],
                "<=",
                METRIC_TARGET,
                unit="%",
            )
        )
    study = figures["study"]
    if "skipped" not in study and "error" not in study:
        measured = study["trial_s"]["median"]
        projected = measured < STUDY_TARGET_TRIAL_S
        out.append(
            _target(
                "study",
                f"study / ideal, trials of {STUDY_TARGET_TRIAL_S:.0f} s, Ray start-up apart",
                study["ratio_at_target_s" if projected else "ratio"],
                "<=",
                STUDY_TARGET,
                note=f"projected from trials of {measured:.1f} s" if projected else "",
            )
        )
    return out


# -------------------------------------------------------------------------------- run
def run_bench(
    quick: bool = False,
    *,
    threads: int | None = None,
    device: str = "auto",
    study: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure the five figures and check them against the issue's targets.

    quick: tiny samples, fewer rounds and replica counts, a 2-trial study of ~1 s trials
    (well under a minute in all; for tests). threads: torch threads for everything measured
    in this process (default: every core, see default_threads). study=False skips the Ray
    figure (recorded as skipped). log: progress lines (default: none). Returns a
    JSON-ready dict; `format_table` prints it.
    """
    s = QUICK if quick else FULL
    log = log or (lambda message: None)
    dev = resolve_device(device)
    threads = threads or default_threads()
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    busy_before = _others_busy()
    figures: dict[str, Any] = {}
    try:
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("reference", lambda: _reference_figure(s, dev)),
            ("replicas", lambda: _replica_figure(s, dev)),
            ("hardware", lambda: _hardware_figure(s, dev)),
            ("metrics", lambda: _metric_figure(s, dev)),
        ]
        for name, measure in steps:
            log(f"bench: {name} ...")
            figures[name] = measure()
        if study:
            log("bench: study ...")
            try:
                figures["study"] = _study_figure(s, log)
            except Exception as error:  # Ray missing or failing: the other figures stand
                figures["study"] = {"error": f"{type(error).__name__}: {error}"}
        else:
            figures["study"] = {"skipped": "study=False"}
    finally:
        torch.set_num_threads(saved_threads)
    return {
        "mode": "quick" if quick else "full",
        "environment": _environment(dev, threads)
        | {"others_busy_before": busy_before, "others_busy_after": _others_busy()},
        "settings": {
            "rounds": s.rounds,
            "sample_s": s.sample_s,
            "metric_rounds": s.metric_rounds,
            "study_rounds": s.study_rounds,
        },
        "figures": figures,
        "targets": _targets(figures),
        "elapsed_s": time.perf_counter() - started,
    }


def _others_busy(seconds: float = 0.5) -> float | None:
    """Fraction of the machine's CPU time other processes use, sampled over `seconds` while
    this one sleeps (Linux /proc/stat; None elsewhere). Busy cores make figures noisy."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            jiffies = [int(v) for v in f.readline().split()[1:]]
        return sum(jiffies), jiffies[3] + jiffies[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def _environment(device: torch.device, threads: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "threads": threads,
    }


# ------------------------------------------------------------------------------ output
def _x(value: float) -> str:
    return f"{value:.2f}x"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _one_decimal(value: float) -> str:
    return f"{value:.1f}"


def _spread(summary: dict[str, Any], fmt: Callable[[float], str]) -> str:
    return f"{fmt(summary['min'])}..{fmt(summary['max'])}"


def format_table(result: dict[str, Any]) -> str:
    """The bench as a readable table: every figure, then the targets with PASS / MISS."""
    env, f = result["environment"], result["figures"]
    lines = [
        f"ganstudy bench ({result['mode']}): torch {env['torch']} on {env['device']}, "
        f"{env['threads']} torch thread(s) per process (torch.set_num_threads), "
        f"{env['cpu_count']} CPUs; medians of {result['settings']['rounds']} interleaved "
        "rounds, spread = min..max",
        "",
    ]
    rows: list[tuple[str, str, str, str]] = []

    def add(figure: str, label: str, value: str, spread: str = "") -> None:
        rows.append((figure, label, value, spread))

    def add_summary(
        figure: str, label: str, summary: dict[str, Any], fmt: Callable[[float], str]
    ) -> None:
        """A measured figure: its median, and its spread over rounds."""
        add(figure, label, fmt(summary["median"]), _spread(summary, fmt))

    for r in f["reference"]["rows"]:
        add_summary(
            "1 reference",
            f"trainer / reference, w{r['width']} b{r['batch']}"
            f" ({r['trainer_steps_per_s']:.0f} vs {r['reference_steps_per_s']:.0f} steps/s)",
            r["ratio"],
            _x,
        )
    for r in f["replicas"]["rows"]:
        shape = f"w{r['width']} b{r['batch']}"
        if r["replicas"] == 1:
            add("2 replicas", f"R=1, {shape}: {r['replica_steps_per_s']:.0f} replica-steps/s", "1")
            continue
        add_summary(
            "2 replicas",
            f"R={r['replicas']} / R=1 replica-steps/s, {shape} ({r['replica_steps_per_s']:.0f}/s)",
            r["speedup"],
            _x,
        )
    hw = f["hardware"]
    add_summary(
        "3 hardware",
        f"matmul ceiling ({hw['matmul_n']}^2 float32), GFLOP/s",
        hw["ceiling_gflops"],
        _one_decimal,
    )
    for r in hw["rows"]:
        who = "reference loop" if r["what"] == "reference" else f"trainer R={r['replicas']}"
        add_summary(
            "3 hardware",
            f"{who} w128 b256 / ceiling ({r['gflops']:.1f} GFLOP/s)",
            r["fraction"],
            _pct,
        )
    for r in f["metrics"]["rows"]:
        add_summary(
            "4 metrics",
            f"metric cost, defaults, R={r['replicas']} (eval {r['eval_s']:.3f} s per "
            f"{r['eval_every']} steps of {r['train_s']:.3f} s)",
            r["cost"],
            _pct,
        )
    st = f["study"]
    if "skipped" in st or "error" in st:
        add("5 study", "study overhead", st.get("skipped") or st.get("error", ""))
    else:
        add_summary(
            "5 study",
            f"Ray study / ideal, {st['trials']} trials of {st['trial_s']['median']:.1f} s, "
            f"{st['slots']} slots",
            st["ratio"],
            _x,
        )
        add("5 study", "  ... with Ray start-up and shutdown", _x(st["ratio_with_start"]["median"]))
        add_summary(
            "5 study",
            "  same trials on plain processes, no Ray / ideal",
            st["pool_ratio"],
            _x,
        )
        add_summary(
            "5 study",
            "  of which: a trial's own time in Ray / alone",
            st["trial_slowdown"],
            _x,
        )
        add_summary(
            "5 study",
            "  of which: start-up, scheduling, tables (s)",
            st["rest_s"],
            _one_decimal,
        )
        add(
            "5 study",
            f"  ... projected to trials of {STUDY_TARGET_TRIAL_S:.0f} s",
            _x(st["ratio_at_target_s"]["median"]),
        )
        add_summary(
            "5 study",
            "Ray start-up (s)",
            st["ray_start_s"],
            _one_decimal,
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("figure", "measure", "median", "spread")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in [header, *rows]:
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        )
    lines += ["", "targets (issue 6):"]
    for t in result["targets"]:
        fmt = _pct if t["unit"] == "%" else _x
        verdict = "PASS" if t["met"] else "MISS"
        if t["op"] == ">=":
            by = f"{abs(t['margin']):.0%} {'above' if t['margin'] >= 0 else 'below'} it"
        else:
            by = f"{abs(t['margin']):.0%} {'under' if t['margin'] >= 0 else 'over'} it"
        note = f"; {t['note']}" if t["note"] else ""
        lines.append(
            f"  {verdict}  {t['name']}: {fmt(t['value'])} "
            f"(target {t['op']} {fmt(t['target'])}: {by}{note})"
        )
    busy = [b for b in (env.get("others_busy_before"), env.get("others_busy_after")) if b]
    if busy and max(busy) > 0.1:
        lines.append(
            f"\nnote: other processes used up to {max(busy):.0%} of the CPUs around the run: "
            "the figures are noisier than usual (see the spreads)."
        )
    lines.append(f"\nbench took {result['elapsed_s']:.0f} s")
    return "\n".join(lines)


def bench_command(quick: bool, as_json: bool, out: str | None) -> int:
    """`ganstudy bench [--quick] [--json] [--out FILE]`: run, print, optionally save JSON."""
    if out is not None and not Path(out).resolve().parent.is_dir():
        print(f"ganstudy: error: --out: folder of {out} does not exist", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run_bench(quick, log=log)
    text = json.dumps(_finite(result), indent=2)
    if out is not None:
        Path(out).write_text(text + "\n", encoding="utf-8")
    print(text if as_json else format_table(result), flush=True)
    return 0


def _finite(value: Any) -> Any:
    """JSON has no NaN or inf: null instead."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
