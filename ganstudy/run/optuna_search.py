"""Ray's OptunaSearch, made truthful in Optuna's own records (optuna.db, optuna-dashboard).

- Intermediate values are keyed by the G step (`step`), not by Ray's count of reports.
- A trial the scheduler (ASHA) stopped before its last step is PRUNED, not COMPLETE with the
  value it had when it was stopped; its intermediate values show the step it reached.
- Each Optuna trial carries its ganstudy trial id as the user attribute `ganstudy_trial_id`
  (shown by optuna-dashboard), and `trial_numbers` reads the pairs back for trials.parquet's
  `optuna_trial` column: the two tools' trials can be matched either way.
Imported only by optuna studies (importing optuna costs about a second).
"""

from __future__ import annotations

import warnings
from typing import Any

from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

# Optuna's warning (optuna.trial.Trial.report) when a step is reported twice.
_ALREADY_REPORTED = r"The reported value is ignored because this `step=\d+` is already reported"
TRIAL_ID_ATTR = "ganstudy_trial_id"  # an Optuna trial's user attribute: the Ray trial id


class GStepOptunaSearch(OptunaSearch):
    """OptunaSearch for trials of `steps` G steps that report `step` with every result."""

    def __init__(self, *args: Any, steps: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.steps = steps

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        asked = self._ot_trials.get(trial_id)  # the Optuna trial OptunaSearch asked for
        if asked is not None:
            asked.set_user_attr(TRIAL_ID_ATTR, trial_id)
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        with warnings.catch_warnings():
            # A resumed trial trains again from its last checkpoint and reports steps that
            # Optuna already holds; Optuna keeps the first value (the same trial, step and
            # seed), as it should, but warns of each: not a user's concern.
            warnings.filterwarnings("ignore", message=_ALREADY_REPORTED, category=UserWarning)
            super().on_trial_result(trial_id, {**result, TRAINING_ITERATION: result["step"]})

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        if result and not error and self.metric in result:
            # Ray passes a trial's last result here only: record it as an intermediate
            # value too, so the values show the step each trial reached.
            self.on_trial_result(trial_id, result)
            if result.get("step", self.steps) < self.steps:
                # Without a final value OptunaSearch tells Optuna the trial was PRUNED.
                result = {k: v for k, v in result.items() if k != self.metric}
        super().on_trial_complete(trial_id, result, error)


def trial_numbers(storage: str, study_name: str) -> dict[str, int]:
    """ganstudy trial id -> Optuna trial number, for the trials of an Optuna study in
    `storage` (an RDB URL) that GStepOptunaSearch asked for."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    return {
        t.user_attrs[TRIAL_ID_ATTR]: t.number
        for t in study.get_trials(deepcopy=False)
        if TRIAL_ID_ATTR in t.user_attrs
    }
