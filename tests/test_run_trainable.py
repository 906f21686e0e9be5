"""What a trial writes: lean checkpoints and one snapshot file per eval step."""

from __future__ import annotations

import numpy as np
import pyarrow.fs

from ganstudy.config import TrialConfig
from ganstudy.engine.trainer import Trainer
from ganstudy.run.trainable import read_samples, save_state, write_snapshot


def test_checkpoint_bytes_do_not_grow_with_the_number_of_evals(tmp_path):
    # The smoke study's models with 12 evals after step 0: the last checkpoint may exceed
    # the first by the history rows only (issue 10: at most 1.3x).
    config = TrialConfig(
        steps=240, eval_every=20, replicas=2, d_width=64, g_width=64, eval_samples=2000,
        eval_batch=256,
    )  # fmt: skip
    trainer = Trainer(config)
    sizes = []
    for evaluation in trainer.run():
        folder = tmp_path / f"checkpoint_{evaluation.step}"
        folder.mkdir()
        sizes.append(save_state(trainer, folder).stat().st_size)
    assert len(sizes) == 13
    # Step 0's checkpoint is smaller: Adam allocates its moment estimates at its first step.
    # From the first eval after training, only the history rows are added.
    assert sizes[-1] <= 1.3 * sizes[1], sizes
    # The growth is the history: about the same number of bytes per eval, not more.
    steps = np.diff(sizes[1:])
    assert steps.max() <= 2 * max(steps.min(), 1), sizes


def test_snapshots_round_trip_and_stop_at_the_checkpointed_step(tmp_path):
    fs = pyarrow.fs.LocalFileSystem()
    folder = str(tmp_path / "samples")
    fs.create_dir(folder)
    arrays = {step: np.random.default_rng(step).normal(size=(2, 5, 2)) for step in (0, 20, 40)}
    for step, array in arrays.items():
        write_snapshot(fs, folder, step, array)
    write_snapshot(fs, folder, 20, arrays[20])  # a retry writes the same step again
    (tmp_path / "samples" / "step_000000060.npy.123.tmp").write_bytes(b"half")
    got = read_samples(fs, str(tmp_path), last_step=20)
    assert sorted(got) == [0, 20]  # 40 came after the checkpoint the tables use
    for step in got:
        np.testing.assert_array_equal(got[step], arrays[step])
