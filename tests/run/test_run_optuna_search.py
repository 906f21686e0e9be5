"""run/optuna_search.py: Optuna's trials and ganstudy's, matched both ways."""

from __future__ import annotations

import optuna
import pytest
from study_files import tiny_study, write_study

from ganstudy.cli import main
from ganstudy.run.optuna_search import TRIAL_ID_ATTR
from ganstudy.study.results import load_results


@pytest.mark.slow
def test_trials_parquet_names_each_trials_optuna_number(tmp_path):
    study = tiny_study(
        "tpe",
        steps=100,
        search={"algorithm": "optuna", "num_samples": 2},
        params={"loss": "minimax", "lr_d": {"loguniform": [1e-4, 1e-2]}},
    )
    out = tmp_path / "tpe"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    loaded = optuna.load_study(study_name="tpe", storage=f"sqlite:///{out / 'optuna.db'}")
    trials = load_results(out).trials
    assert str(trials["optuna_trial"].dtype) == "Int64"
    assert sorted(trials["optuna_trial"].unique()) == sorted(t.number for t in loaded.trials)
    assert len(loaded.trials) == 2
    for optuna_trial in loaded.trials:
        rows = trials[trials["optuna_trial"] == optuna_trial.number]
        assert len(rows) == 2  # its replicas
        # The same trial seen from both sides: its id, and the lr_d Optuna sampled for it.
        assert set(rows["trial_id"]) == {optuna_trial.user_attrs[TRIAL_ID_ATTR]}
        assert list(rows["lr_d"]) == [pytest.approx(optuna_trial.params["lr_d"])] * 2
