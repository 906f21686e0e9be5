"""PBT studies: a trial's history is its own, exploits are recorded, continuations are exact.

Definition (run/trainable.py): a PBT trial's history is its own evals up to the step of the
donor state it took, then its own continuation from that state; the exploit (step, donor,
settings before and after) is a row of exploits.parquet.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.fs
import pytest
import torch
from study_files import tiny_study, write_study
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganstudy.cli import main
from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import from_dict
from ganstudy.engine.trainer import Trainer
from ganstudy.run.trainable import read_eval
from ganstudy.study.results import load_results

pytestmark = pytest.mark.slow
STEPS, EVERY = 500, 100


@pytest.fixture(scope="module")
def pbt(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pbt")
    study = tiny_study(
        "pbt",
        steps=STEPS,
        eval_every=EVERY,
        losses=("nonsaturating",),
        search={"algorithm": "random", "num_samples": 4},
        # Half the population exploits the other half at every eval, the population in step:
        # several exploits per trial, some in the last interval.
        scheduler={
            "name": "pbt",
            "perturbation_interval": EVERY,
            "quantile_fraction": 0.5,
            "mutable": ["lr_d", "lr_g"],
            "synchronous": True,  # every interval, the last one included, has its exploits
        },
        params={"lr_d": {"loguniform": [1e-4, 3e-2]}, "lr_g": {"loguniform": [1e-4, 3e-2]}},
    )
    out = folder / "pbt"
    assert main(["run", str(write_study(folder, study)), "--results", str(out), "--quiet"]) == 0
    return out


def test_every_trial_has_its_own_rows_once(pbt: Path):
    study = load_results(pbt)
    trials, history = study.trials, study.history
    assert len(trials) == 4 * 2 and (trials["status"] == "finished").all()
    assert not history.duplicated(["trial_id", "replica", "step"]).any()
    for _, rows in history.groupby(["trial_id", "replica"]):
        assert rows["step"].min() == 0 and rows["step"].max() == STEPS
    # Final metrics in trials equal each run's last history row.
    last = history[history["step"] == STEPS].set_index(["trial_id", "replica"])
    final = trials.set_index(["trial_id", "replica"]).loc[last.index]
    assert (final["js_binned"].to_numpy() == last["js_binned"].to_numpy()).all()


def test_exploits_are_recorded_with_donor_and_settings(pbt: Path):
    study = load_results(pbt)
    exploits, trials = study.exploits, study.trials
    assert len(exploits) >= 2, "PBT exploited less than twice; the test shows little"
    ids = set(trials["trial_id"])
    assert set(exploits["trial_id"]) <= ids and set(exploits["donor"]) <= ids
    # The donor may be the trial itself: a donor that had just cloned it hands its own
    # earlier state back (with new settings).
    assert (exploits["trial_id"] != exploits["donor"]).any()
    assert exploits["step"].between(EVERY, STEPS).all()
    # One in the last interval: a state taken at the last perturbation, trained to the end.
    assert (exploits["step"] == STEPS - EVERY).any(), sorted(exploits["step"])


def test_each_row_equals_its_attempt_recomputed(pbt: Path):
    """Row by row: every row a trial computed after restoring a state (an exploit's donor
    state, or its own after a pause) equals a Trainer built with that attempt's settings,
    loaded with that very checkpoint and trained to the row's step; and the history table
    holds exactly these rows."""
    history = load_results(pbt).history
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the trials ran (cpu: 1)
    checked = 0
    try:
        for path in sorted((pbt / "ray").glob("trial_*/evals/step_*.json")):
            attempt = json.loads(path.read_text())
            if attempt["origin"] is None:
                continue  # trained from scratch: the replica tests cover that case
            trial_id = path.parent.parent.name.removeprefix("trial_")
            state = torch.load(pbt / "ray" / attempt["origin"] / "state.pt", weights_only=True)
            trainer = Trainer(from_dict(attempt["settings"]))
            trainer.load_state_dict(state["trainer"])
            step = attempt["rows"][0]["step"]
            if step > trainer.step:
                trainer.train(step - trainer.step)
            recomputed = trainer.evaluate().rows
            mine = history[(history["trial_id"] == trial_id) & (history["step"] == step)]
            for row, again in zip(attempt["rows"], recomputed, strict=True):
                table = mine[mine["replica"] == row["replica"]]
                assert len(table) == 1, (trial_id, step)
                for name in METRIC_COLUMNS:
                    for got in (row[name], table.iloc[0][name]):
                        assert (math.isnan(got) and math.isnan(again[name])) or got == (
                            pytest.approx(again[name], rel=1e-5, abs=1e-7)
                        ), (trial_id, step, name)
            checked += 1
    finally:
        torch.set_num_threads(threads)
    assert checked >= 2, "no row continued a restored state; the test shows nothing"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_history_with_settings_gives_each_row_the_settings_it_trained_with(pbt: Path):
    # The truth: the settings the attempt that computed a row trained with, in its eval file.
    merged = load_results(pbt).history_with_settings()
    fs = pyarrow.fs.LocalFileSystem()
    for (trial_id, step), rows in merged.groupby(["trial_id", "step"]):
        attempt = read_eval(fs, str(pbt / "ray" / f"trial_{trial_id}"), step)
        for key in ("lr_d", "lr_g"):
            assert set(rows[key]) == {attempt["settings"][key]}, (trial_id, step, key)


def test_tensorboard_holds_each_runs_history_and_settings(pbt: Path):
    # Exploits redo steps (a continuation from an earlier state): TensorBoard must show the
    # rows history.parquet kept, step by step, and each step's settings as curves.
    merged = load_results(pbt).history_with_settings()
    for (trial_id, replica), rows in merged.groupby(["trial_id", "replica"]):
        (folder,) = (pbt / "ray" / f"trial_{trial_id}").glob(f"loss=*/replica_{replica}")
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        for name in ("js_binned", "loss_d", "setting/lr_d", "setting/lr_g"):
            kept = rows[rows[name.removeprefix("setting/")].notna()]  # loss_d: none at step 0
            drawn = events.Scalars(name)
            assert [e.step for e in drawn] == kept["step"].tolist(), (trial_id, name)
            expected = kept[name.removeprefix("setting/")].tolist()
            assert [e.value for e in drawn] == pytest.approx(expected, rel=1e-6)
