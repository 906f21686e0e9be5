"""The in-process figures: reference loop, replicas, hardware (matmul ceiling), metric cost.

Each is a ratio of two things timed in the same run, interleaved round by round (see
timing.interleave): the ratio of the two sides' medians, with the per-round spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch

from ganstudy.bench.flops import step_flops
from ganstudy.bench.reference import ReferenceGAN, bench_config
from ganstudy.bench.settings import Settings
from ganstudy.bench.timing import Rate, interleave, now, ratio_summary, summary
from ganstudy.config import TrialConfig
from ganstudy.engine.trainer import Trainer


def trainer_rate(config: TrialConfig, sample_s: float) -> Rate:
    """Steps per second of a Trainer with metrics off (train() only, never evaluate())."""
    trainer = Trainer(config, threads=torch.get_num_threads())
    return Rate(trainer.train, trainer.device, sample_s)


def reference_rate(config: TrialConfig, device: torch.device, sample_s: float) -> Rate:
    """Steps per second of the plain-PyTorch reference loop."""
    return Rate(ReferenceGAN(config, device).train, device, sample_s)


def matmul_rate(device: torch.device, sample_s: float) -> tuple[Rate, float]:
    """Square float32 matmuls (units: matmuls) and the FLOPs of one; large enough to run at
    the BLAS library's peak."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device)  # (n, n)
    b = torch.randn(n, n, device=device)  # (n, n)
    out = torch.empty(n, n, device=device)  # (n, n)

    def work(reps: int) -> None:
        for _ in range(reps):
            torch.mm(a, b, out=out)

    return Rate(work, device, sample_s), 2.0 * n**3


def reference_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    """Trainer steps/s over the reference loop's, R = 1, metrics off."""
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
                "ratio": ratio_summary(v["trainer"], v["reference"]),
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


def replica_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    """Replica-steps/s at R replicas over R = 1's."""
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
                    # replica-steps/s relative to R = 1
                    "speedup": ratio_summary(v[str(R)], base, scale=R),
                    "replica_steps_per_s": R * statistics.median(v[str(R)]),
                }
            )
    return {"what": "replica-steps/s at R replicas / replica-steps/s at R = 1", "rows": rows}


def hardware_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    """The trainer's (and the reference loop's) matmul GFLOP/s over a large matmul's."""
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
                "fraction": ratio_summary(achieved, ceiling),
                "gflops": statistics.median(achieved),
            }
        )
    return {
        "what": f"achieved matmul GFLOP/s at width {width}, batch {batch} / large float32 "
        "matmul GFLOP/s (FLOPs counted analytically, see bench.flops.step_flops)",
        "ceiling_gflops": summary(ceiling),
        "matmul_n": round((matmul_flops / 2) ** (1 / 3)),
        "rows": rows,
    }


def eval_cost(trainer: Trainer, every: int, rounds: int) -> dict[str, Any]:
    """What evaluating once per `every` steps adds to training: per round, `every` training
    steps and one evaluate() are timed apart (interleaved), and the cost is the ratio of
    their medians.

    Why apart: an eval is ~5-15% of the steps around it, and timing (train + eval) against
    train alone, as this bench once did, subtracts two totals whose own round-to-round
    spread (±20% on a shared machine) is larger than the eval; the difference came out
    anywhere from -13% to +24% in one run. Timed by itself the eval is the same work: its
    size does not depend on the steps before it (interleave's order, reversed every other
    round, sometimes runs two evals back to back)."""
    trainer.evaluate()  # step 0, as run() does; also warms every code path up

    def train() -> float:
        start = now(trainer.device)
        trainer.train(every)
        return now(trainer.device) - start

    def evaluate() -> float:
        start = now(trainer.device)
        trainer.evaluate()
        return now(trainer.device) - start

    v = interleave({"train": train, "eval": evaluate}, rounds)
    return {
        "eval_every": every,
        "cost": ratio_summary(v["eval"], v["train"]),  # eval_s / train_s
        "eval_s": statistics.median(v["eval"]),
        "train_s": statistics.median(v["train"]),
    }


def metric_figure(s: Settings, device: torch.device) -> dict[str, Any]:
    """Extra time of evaluating at the default cadence, over training alone."""
    rows = []
    for R in s.metric_replicas:
        config = TrialConfig(replicas=R, device=device.type)  # the defaults: what users get
        rows.append(
            {
                "replicas": R,
                **eval_cost(
                    Trainer(config, threads=torch.get_num_threads()),
                    config.eval_every,
                    s.metric_rounds,
                ),
            }
        )
    return {
        "what": "evaluate() / (eval_every training steps), timed apart, TrialConfig defaults",
        "rows": rows,
    }
