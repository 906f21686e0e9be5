"""fuse: auto without Ray: the study keys, grouping by shape, fuse_max, balancing slots."""

from __future__ import annotations

import json

import pytest
from study_files import tiny_study

from ganstudy import fusing
from ganstudy.cli import main
from ganstudy.run import groups
from ganstudy.study.spec import SpecError, spec_from_dict

RANDOM = {"algorithm": "random", "num_samples": 2}


def _spec(**changes):
    params = {
        "loss": {"grid": ["minimax", "hinge"]},
        "lr_d": {"grid": [1e-3, 2e-3]},
        "d_width": {"grid": [8, 16]},
        **changes.pop("params", {}),
    }
    return spec_from_dict(tiny_study("g", 200, fuse="auto", params=params, **changes))


def test_keys_default_round_trip_and_range():
    plain = spec_from_dict(tiny_study("g", 200))
    assert (plain.fuse, plain.fuse_max) == ("off", 8)
    spec = _spec(fuse_max=3)
    import yaml

    again = spec_from_dict(yaml.safe_load(spec.to_yaml()))
    assert again == spec and (again.fuse, again.fuse_max) == ("auto", 3)
    for bad, words in (({"fuse": "on"}, "expected auto or off"), ({"fuse_max": 0}, "fuse_max")):
        with pytest.raises(SpecError, match=words):
            spec_from_dict(tiny_study("g", 200, **bad))
    with pytest.raises(SpecError, match="did you mean"):
        spec_from_dict(tiny_study("g", 200, fuse_maxx=2))


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"search": {"algorithm": "optuna", "num_samples": 2}}, "optuna"),
        (
            {"scheduler": {"name": "asha", "grace_period": 100}, "search": RANDOM},
            "asha: it stops",
        ),
        (
            {"scheduler": {"name": "pbt", "perturbation_interval": 100}, "search": RANDOM},
            "pbt: it copies",
        ),
    ],
)
def test_auto_refused_where_trials_are_decided_alone(changes, words):
    study = tiny_study(
        "g",
        200,
        fuse="auto",
        params={
            "loss": "hinge",
            "lr_d": {"choice": [1e-3, 2e-3]},
            "lr_g": {"choice": [1e-3, 2e-3]},
        },
        **changes,
    )
    with pytest.raises(SpecError, match=words) as error:
        spec_from_dict(study)
    assert "\n" not in str(error.value) and "fuse: off" in str(error.value)


def test_grid_groups_by_shape_and_respects_fuse_max():
    spec = _spec(search={"algorithm": "grid", "num_samples": 3})
    configs = groups.configurations(spec)
    assert len(configs) == spec.num_trials() == 24
    chunks = groups.plan(configs, fuse_max=4)
    assert sorted(map(len, chunks)) == [4, 4, 4, 4, 4, 4]  # 12 per width, 3 chunks each
    for chunk in chunks:
        assert len({fusing.shape_key(c) for c in chunk}) == 1
    assert sorted(json.dumps(c) for ch in chunks for c in ch) == sorted(map(json.dumps, configs))
    assert len(groups.plan(configs, fuse_max=8)) == 4  # 12 = 6 + 6 per width


def test_configurations_that_pay_different_penalties_are_grouped_apart():
    # A group computes a penalty for all its replicas once one member pays it: hinge beside
    # wgan_gp would pay the GP's double backward for nothing, r1 = 0 beside r1 > 0 the R1's.
    losses = {"grid": ["minimax", "wgan_gp", "hinge"]}
    spec = _spec(params={"loss": losses, "r1": {"grid": [0.0, 1.0]}, "d_width": 8})
    chunks = groups.plan(groups.configurations(spec), fuse_max=8)
    paid = sorted(
        (fusing.penalties(chunk[0]), sorted(c["loss"] for c in chunk)) for chunk in chunks
    )
    assert all(len({fusing.penalties(c) for c in chunk}) == 1 for chunk in chunks)
    assert paid == [
        ((False, False), ["hinge", "hinge", "minimax", "minimax"]),
        ((False, True), ["hinge", "hinge", "minimax", "minimax"]),
        ((True, False), ["wgan_gp", "wgan_gp"]),
        ((True, True), ["wgan_gp", "wgan_gp"]),
    ]
    assert fusing.penalties({"loss": "wgan_gp", "r1": 0.0}) == (True, False)
    assert fusing.penalties({"loss": "hinge", "r1": 0.5}) == (False, True)


def test_unroll_trains_alone_and_slots_are_filled():
    spec = _spec(params={"unroll": {"grid": [0, 2]}})
    chunks = groups.plan(groups.configurations(spec), fuse_max=8)
    alone = [c for c in chunks if c[0]["unroll"]]
    assert len(alone) == 8 and all(len(c) == 1 for c in alone)
    fused = groups.plan(groups.configurations(_spec()), fuse_max=8, slots=6)
    assert len(fused) == 6 and sorted(map(len, fused)) == [1, 1, 1, 1, 2, 2]
    assert len(groups.plan(groups.configurations(_spec()), 8, slots=100)) == 8  # all alone
    works = [groups.work(c) for c in fused]
    assert works == sorted(works, reverse=True)


def test_random_draws_are_reproducible_and_slots():
    study = dict(search={"algorithm": "random", "num_samples": 5})
    spec = _spec(params={"lr_g": {"loguniform": [1e-4, 1e-2]}}, **study)
    assert groups.configurations(spec) == groups.configurations(spec)
    assert len(groups.configurations(spec)) == spec.num_trials() == 40
    assert groups.slots(spec, None, {"CPU": 2.0}) == 2
    assert groups.slots(spec, 5, {"CPU": 2.0}) == 5
    chunk = groups.configurations(spec)[:3]
    assert groups.members_of({groups.MEMBERS_KEY: groups.encode(chunk)}) == chunk


def test_validate_counts_groups(tmp_path, capsys):
    import yaml

    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(_spec().to_dict()))
    assert main(["validate", str(path)]) == 0
    assert "fuse: auto -> 2 Ray trials" in capsys.readouterr().out


def test_split_record_gives_each_member_its_rows_and_snapshots():
    import numpy as np

    from ganstudy.study.results import TrialRecord

    chunk = groups.configurations(_spec())[:3]  # replicas 2
    history = [
        {"step": 1, "replica": r, "member": m, "js_binned": m} for m in range(3) for r in (0, 1)
    ]
    record = TrialRecord(
        trial_id="abc",
        config={groups.MEMBERS_KEY: groups.encode(chunk), "steps": 200},
        status="finished",
        error=None,
        wall_s=5.0,
        history=history,
        samples={1: np.arange(6)[:, None]},
        modes={1: np.arange(6)[:, None]},
    )
    parts = groups.split_record(record)
    assert [p.trial_id for p in parts] == ["abc.0", "abc.1", "abc.2"]
    for m, part in enumerate(parts):
        assert part.config == chunk[m] and part.wall_s == 5.0 and part.status == "finished"
        assert [row["js_binned"] for row in part.history] == [m, m]
        assert all("member" not in row for row in part.history)
        assert part.samples[1].ravel().tolist() == [2 * m, 2 * m + 1]
    alone = TrialRecord(
        trial_id="x", config={}, status="pending", error=None, wall_s=0.0, history=[]
    )
    assert groups.split_record(alone) == [alone]


def test_fused_param_space_is_one_grid_of_strings():
    from ganstudy.run.tuner import fused_param_space

    space = fused_param_space(_spec(), slots=1)
    (values,) = space[groups.MEMBERS_KEY].values()
    assert all(isinstance(v, str) for v in values) and len(values) == 2
