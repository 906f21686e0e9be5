"""Every eval row of a shrunk balance grid, for before/after checks of a refactor.

Trains each configuration of studies/balance.yaml's grid (72 x 3 replicas) in float64 for
40 steps, an eval every 20, through `Trainer.run` (no Ray), and writes all rows to one
parquet file. Run it with two versions of ganstudy on PYTHONPATH and compare the files
(pandas.testing.assert_frame_equal, check_exact=True): a refactor that changes no number
gives identical frames.

    PYTHONPATH=/path/to/old python scripts/balance_rows.py /tmp/before.parquet
    PYTHONPATH=. python scripts/balance_rows.py /tmp/after.parquet
"""

import itertools
import sys

import pandas as pd
import torch

from ganstudy import TrialConfig
from ganstudy.trainer import Trainer  # the public path, in every version


def main(out: str) -> None:
    torch.set_num_threads(1)
    rows = []
    grid = itertools.product(
        ["minimax", "nonsaturating", "wgan_gp", "hinge"], [1, 2, 5], [1e-4, 1e-3, 1e-2], [32, 128]
    )
    for loss, k, lr_d, d_width in grid:
        config = TrialConfig(
            target="ring8", loss=loss, k=k, lr_d=lr_d, lr_g=1e-3, d_width=d_width, g_width=64,
            target_std=0.05, steps=40, eval_every=20, replicas=3, seed=0, dtype="float64",
            eval_samples=2000, coverage_samples=1000, eval_batch=256,
        )  # fmt: skip
        for evaluation in Trainer(config).run():
            for row in evaluation.rows:
                rows.append({"loss": loss, "k": k, "lr_d": lr_d, "d_width": d_width} | row)
    pd.DataFrame(rows).to_parquet(out)
    print(len(rows), "rows")


if __name__ == "__main__":
    main(sys.argv[1])
