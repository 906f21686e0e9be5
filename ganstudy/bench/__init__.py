"""`ganstudy bench`: how fast the engine trains, as ratios measured side by side.

Five figures (issue 6), each a ratio of two things timed in the same run, interleaved round
by round (A B, then B A, ...) so that slow drifts of the machine (other processes, clock
boosts) hit both sides alike; each figure is the ratio of the two sides' medians over
rounds (so it equals the ratio of the medians printed beside it), with the spread (min,
max) of the per-round ratios. Absolute rates are kept in the JSON for context only.

1. reference  a plain PyTorch GAN loop written the obvious way vs the trainer, metrics off
2. replicas   replica-steps/s at R replicas vs R = 1
3. hardware   the trainer's achieved matmul GFLOP/s vs a large float32 matmul's
4. metrics    train + evaluate at the default eval_every vs train alone
5. study      a small study through Ray Tune vs the same trials back to back, relative to
              the ideal (sum of trial times / concurrent slots); Ray start-up apart, and
              the same trials on plain worker processes to tell the machine's own cost of
              running side by side from Ray's

Beside them (one table each): 6. dcgan (the image trainer against a plain DCGAN loop), 7.
fuse (a grid fused and unfused), 8. threads (the trainer on one torch thread, training's
default, against torch's default of a thread per core; measured on the machine as loaded).

Everything in this process runs on `threads` torch threads (default: every core); the
study's trials run on one thread each, as a trial with resources.cpu = 1 does.

    result = run_bench(quick=True)
    print(format_table(result))

Modules, one job each: timing (Rate, interleave, summaries), reference (the bench's
configuration, the plain-PyTorch loop), flops (the FLOP model, `step_flops`), figures
(reference, replicas, hardware, metrics), images (dcgan), thread_count (threads), study
(the Ray study figure), targets and table (targets, the printed table), settings (quick /
full), command (run_bench, the CLI entry).
"""

from __future__ import annotations

from ganstudy.bench.command import bench_command, result_json, run_bench
from ganstudy.bench.table import format_table

__all__ = ["bench_command", "format_table", "result_json", "run_bench"]
