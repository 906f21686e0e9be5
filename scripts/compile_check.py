"""torch.compile of the trainer's G and D against eager, side by side (issue 15's "work around
the matmuls"): steps/s of two trainers of the bench's width-128, batch-256 configuration,
one with both players compiled (inductor, static shapes), timed in interleaved rounds.

Usage: python scripts/compile_check.py [cpu|cuda] [R ...]   (default: cpu 1 8)

Not an execution option of ganstudy: on this project's 2-core CPU machine it measured
0.65-0.77x eager at R = 1 and 0.72-0.79x at R = 8 over two runs (README, Performance), so
eager stays the only mode.
A GPU, where these small models are bound by kernel launches, may differ: this script is
how to find out. Timing is the bench's own (bench.timing: calibrated samples, interleaved
rounds, the ratio of medians).
"""

from __future__ import annotations

import sys
import time

from ganstudy.bench.figures import trainer_rate
from ganstudy.bench.reference import bench_config
from ganstudy.bench.timing import Rate, interleave, ratio_summary
from ganstudy.engine.trainer import Trainer

ROUNDS, SAMPLE_S = 5, 0.25  # the full bench's sample length


def main(device: str, replicas: list[int]) -> None:
    for R in replicas:
        config = bench_config(128, 256, R, device=device)
        compiled = Trainer(config)
        compiled.generator.compile(dynamic=False)
        compiled.discriminator.compile(dynamic=False)
        start = time.perf_counter()
        compiled.train(5)  # the D step's and G step's graphs (grad modes, batch sizes)
        warm_s = time.perf_counter() - start
        rates = {
            "eager": trainer_rate(config, SAMPLE_S),
            "compiled": Rate(compiled.train, compiled.device, SAMPLE_S),
        }
        v = interleave(rates, ROUNDS)
        ratio = ratio_summary(v["compiled"], v["eager"])
        shown = {k: [round(x) for x in steps] for k, steps in v.items()}
        print(f"R={R} {device}: compiled/eager {ratio['median']:.2f}x, steps/s {shown}", end="")
        print(f", compile {warm_s:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cpu", [int(r) for r in sys.argv[2:]] or [1, 8])
