"""torch.compile of the trainer's G and D against eager, side by side (issue 15's "work around
the matmuls"): steps/s of two trainers of the bench's width-128, batch-256 configuration,
one with both players compiled (inductor, static shapes), timed in interleaved rounds.

Usage: python scripts/compile_check.py [cpu|cuda] [R ...]   (default: cpu 1 8)

Not an execution option of ganstudy: on this project's 2-core CPU machine it measured
0.84x eager at R = 8 (README, Performance), so eager stays the only mode. A GPU, where
these small models are bound by kernel launches, may differ: this script is how to find out.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from ganstudy.bench.reference import bench_config
from ganstudy.trainer import Trainer

ROUNDS, STEPS = 5, 100


def rate(trainer: Trainer) -> float:
    """Steps/s of STEPS training iterations (device work finished)."""
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    trainer.train(STEPS)
    sync()
    return STEPS / (time.perf_counter() - start)


def main(device: str, replicas: list[int]) -> None:
    for R in replicas:
        config = bench_config(128, 256, R, device=device)
        eager, compiled = Trainer(config), Trainer(config)
        compiled.generator.compile(dynamic=False)
        compiled.discriminator.compile(dynamic=False)
        start = time.perf_counter()
        compiled.train(5)  # the D step's and G step's graphs (grad modes, batch sizes)
        warm_s = time.perf_counter() - start
        eager.train(5)
        rates: dict[str, list[float]] = {"eager": [], "compiled": []}
        for i in range(ROUNDS):
            pair = [("eager", eager), ("compiled", compiled)]
            for name, trainer in pair if i % 2 == 0 else pair[::-1]:
                rates[name].append(rate(trainer))
        ratio = statistics.median(rates["compiled"]) / statistics.median(rates["eager"])
        shown = {k: [round(x) for x in v] for k, v in rates.items()}
        print(f"R={R} {device}: compiled/eager {ratio:.2f}x, steps/s {shown}", end="")
        print(f", compile {warm_s:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cpu", [int(r) for r in sys.argv[2:]] or [1, 8])
