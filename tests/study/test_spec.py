"""Study files: loading, validation errors, and the Ray Tune search space they become."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from mnist_files import shipped_copy  # tests/mnist_files.py

from ganstudy.config import from_dict
from ganstudy.engine.targets import make_target
from ganstudy.run.tuner import hyperparam_mutations, param_space
from ganstudy.study.spec import (
    MAX_NAME_CHARS,
    AshaScheduler,
    PbtScheduler,
    SpecError,
    StudySpec,
    load_spec,
    spec_from_dict,
)

STUDIES = sorted((REPO / "studies").glob("*.yaml"))

# The flagship shape from the study-file spec (issue 3): 4 x 3 x 3 x 2 = 72 trials.
BALANCE = """\
name: balance
target: ring8
steps: 20000
eval_every: 500
replicas: 3
seed: 0
metric: js_binned
mode: min
resources: {cpu: 1, gpu: 0}
search: {algorithm: grid}
scheduler: {name: fifo}
params:
  loss: {grid: [minimax, nonsaturating, wgan_gp, hinge]}
  k: {grid: [1, 2, 5]}
  lr_d: {grid: [0.00005, 0.0002, 0.0008]}
  lr_g: 2e-4          # PyYAML reads this as a string; it must still become a float
  d_width: {grid: [64, 256]}
  g_width: 128
  optimizer: adam
"""


def base() -> dict:
    return yaml.safe_load(BALANCE)


def write(tmp_path: Path, data: dict | str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def ray_trial_count(spec: StudySpec, tmp_path: Path) -> int:
    """How many trials Ray's own BasicVariantGenerator makes of the spec (no Ray started)."""
    from ray.tune.experiment import Experiment
    from ray.tune.search.basic_variant import BasicVariantGenerator

    experiment = Experiment(
        "count",
        lambda config: None,
        config=param_space(spec),
        num_samples=spec.search.num_samples,
        storage_path=str(tmp_path),
    )
    generator = BasicVariantGenerator()
    generator.add_configurations(experiment)
    count = 0
    while generator.next_trial() is not None:
        count += 1
    assert count == generator.total_samples
    return count


# ----------------------------------------------------------------------------- good input


def test_balance_expands_to_72_trials_like_ray(tmp_path):
    spec = load_spec(write(tmp_path, BALANCE))
    assert spec.num_trials() == 4 * 3 * 3 * 2
    assert ray_trial_count(spec, tmp_path) == spec.num_trials()


def test_every_grid_variant_is_a_valid_trial_config():
    from ray.tune.search.variant_generator import generate_variants

    spec = spec_from_dict(base())
    configs = [config for _, config in generate_variants(param_space(spec))]
    assert len(configs) == 72
    trials = [from_dict(config) for config in configs]
    assert {t.loss for t in trials} == {"minimax", "nonsaturating", "wgan_gp", "hinge"}
    assert all(t.lr_g == 2e-4 and t.replicas == 3 and t.steps == 20000 for t in trials)


@settings(max_examples=40, deadline=None)
@given(
    grids=st.dictionaries(
        st.sampled_from(["k", "g_width", "d_width", "z_dim", "batch_size", "g_depth"]),
        st.lists(st.integers(1, 64), min_size=1, max_size=4, unique=True),
        max_size=4,
    ),
    num_samples=st.integers(1, 3),
)
def test_num_trials_matches_ray_generate_variants(grids, num_samples):
    from ray.tune.search.variant_generator import generate_variants

    data = base()
    data["params"] = {key: {"grid": values} for key, values in grids.items()}
    data["search"] = {"algorithm": "grid", "num_samples": num_samples}
    spec = spec_from_dict(data)
    per_sample = sum(1 for _ in generate_variants(param_space(spec)))
    assert spec.num_trials() == num_samples * per_sample


def test_sampled_configs_are_valid_trial_configs():
    from ray.tune.search.variant_generator import generate_variants

    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 50}
    data["params"] = {
        "lr_d": {"loguniform": [1e-5, 1e-2]},
        "beta1": {"uniform": [0.0, 0.9]},
        "k": {"randint": [1, 6]},
        "loss": {"choice": ["minimax", "hinge"]},
    }
    space = param_space(spec_from_dict(data))
    for _ in range(50):
        ((_, config),) = generate_variants(space)
        trial = from_dict(config)
        assert 1e-5 <= trial.lr_d <= 1e-2 and 0 <= trial.beta1 <= 0.9 and 1 <= trial.k <= 5


def test_random_search_multiplies_grids_by_num_samples_as_ray_does(tmp_path):
    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 5}
    data["params"]["lr_g"] = {"loguniform": [1e-5, 1e-3]}
    spec = spec_from_dict(data)
    assert spec.num_trials() == 5 * 72
    assert ray_trial_count(spec, tmp_path) == spec.num_trials()


def test_optuna_counts_num_samples():
    data = base()
    data["search"] = {"algorithm": "optuna", "num_samples": 40}
    data["params"].update(
        loss={"choice": ["minimax", "hinge"]},
        k={"randint": [1, 6]},
        lr_d={"loguniform": [1e-5, 1e-3]},
        d_width={"choice": [64, 256]},
    )
    assert spec_from_dict(data).num_trials() == 40


def test_param_space_holds_ray_domains_with_the_written_bounds():
    from ray.tune.search.sample import Categorical, Float, Integer

    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 4}
    data["params"].update(
        lr_d={"loguniform": ["1e-5", 1e-3]},
        beta1={"uniform": [0.0, 0.9]},
        k={"randint": [1, 6]},
        loss={"choice": ["minimax", "hinge"]},
    )
    space = param_space(spec_from_dict(data))

    assert isinstance(space["lr_d"], Float)
    assert type(space["lr_d"].get_sampler()) is Float._LogUniform
    assert (space["lr_d"].lower, space["lr_d"].upper) == (1e-5, 1e-3)
    assert isinstance(space["beta1"], Float)
    assert type(space["beta1"].get_sampler()) is Float._Uniform
    assert (space["beta1"].lower, space["beta1"].upper) == (0.0, 0.9)
    assert isinstance(space["k"], Integer)
    assert (space["k"].lower, space["k"].upper) == (1, 6)  # Ray's upper bound: exclusive
    assert isinstance(space["loss"], Categorical)
    assert space["loss"].categories == ["minimax", "hinge"]
    assert space["d_width"] == {"grid_search": [64, 256]}
    # Fixed values are plain, coerced to the field's type; defaults are pinned.
    assert space["lr_g"] == 2e-4 and isinstance(space["lr_g"], float)
    assert space["target"] == "ring8" and space["batch_size"] == 128


def test_fixed_and_dimensions_split():
    spec = spec_from_dict(base())
    assert set(spec.dimensions) == {"loss", "k", "lr_d", "d_width"}
    assert spec.fixed["g_width"] == 128 and spec.fixed["optimizer"] == "adam"
    assert not set(spec.fixed) & set(spec.dimensions)
    assert spec.max_failures == 2  # the default


def test_to_yaml_round_trips():
    spec = spec_from_dict(base())
    again = spec_from_dict(yaml.safe_load(spec.to_yaml()))
    assert again == spec
    assert param_space(again) == param_space(spec)


def test_asha_defaults_are_resolved_in_steps():
    data = base()
    data["scheduler"] = {"name": "asha"}
    scheduler = spec_from_dict(data).scheduler
    assert isinstance(scheduler, AshaScheduler)
    assert scheduler.grace_period == 5000 and scheduler.reduction_factor == 4
    data["scheduler"] = {"name": "asha", "grace_period": 2000, "reduction_factor": 3}
    assert spec_from_dict(data).scheduler.grace_period == 2000


def test_pbt_mutations_come_from_the_mutable_dimensions():
    from ray.tune.search.sample import Float

    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 4}
    data["params"] = {
        "lr_d": {"loguniform": [1e-5, 1e-3]},
        "lr_g": {"choice": [1e-4, 2e-4, 4e-4]},
        "loss": "hinge",
    }
    data["scheduler"] = {"name": "pbt", "perturbation_interval": 1000}
    spec = spec_from_dict(data)
    assert isinstance(spec.scheduler, PbtScheduler)
    assert spec.scheduler.mutable == ("lr_d", "lr_g")
    mutations = hyperparam_mutations(spec)
    assert isinstance(mutations["lr_d"], Float)
    assert mutations["lr_g"] == [1e-4, 2e-4, 4e-4]  # a list: PBT shifts along it


def test_top_level_param_may_be_swept(tmp_path):
    data = base()
    data["seed"] = {"grid": [0, 100]}
    spec = spec_from_dict(data)
    assert spec.num_trials() == 144
    assert spec.to_dict()["seed"] == {"grid": [0, 100]}


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_studies_load(path, tmp_path):  # `ganstudy validate`: tests/test_cli.py
    spec = load_spec(shipped_copy(path, tmp_path))  # mnist.yaml: on synthetic files
    assert spec.name == path.stem
    assert spec.num_trials() >= 1


# PacGAN's Table 1 (Lin et al. 2018) as the authors' code trains it, written here from that
# code (fjxmlzn/PacGAN, synthetic_data_experiments/: 2DRing_GAN&PacGAN and
# 2DGrid_GAN&PacGAN's config.py and pacgan_task.py, PacGAN/pacgan/bricks.py; the joint
# update from ALI's ali/algorithms.py), not read from the study files under test.
PACGAN = {
    "z_dim": 2,  # num_zdim, N(0, I) noise
    "g_width": 400,  # gen_hidden_size, 4 hidden layers, BatchNorm + Rectifier
    "g_depth": 4,
    "g_batch_norm": True,
    "g_activation": "relu",
    "d_width": 200,  # disc_hidden_size, 3 LinearMaxout layers of 5 pieces
    "d_depth": 3,
    "d_activation": "maxout",
    "maxout_pieces": 5,
    "init_std": 0.02,  # weights_init_std, biases Constant(0)
    "optimizer": "adam",
    "lr_d": 1e-4,  # learning_rate, one Adam step rule for both players
    "lr_g": 1e-4,
    "beta1": 0.8,
    "beta2": 0.999,  # blocks' Adam default
    "loss": "nonsaturating",  # G: softplus(-D(G(z)))
    "updates": "simultaneous",  # ali_algorithm: both gradients, one step
    "k": 1,
    "g_steps": 1,
    "steps": 400_000,  # num_epoch 400 x num_sample 100,000 / batch_size 100
    "replicas": 10,  # "run": range(0, 10)
    "coverage_samples": 2500,  # num_log_figure_sample
    "quality_sigmas": 3.0,  # MetricLogger's dis_thre
    "coverage_min_count": 1,  # a mode with one high-quality sample is covered
}
# (target, target_scale, target_std) and their MEANS: the ring's 8 at radius 1 with std 0.01,
# the grid's 25 at range(-4, 5, 2) squared with std 0.05.
PACGAN_TARGETS = {
    "pacgan_ring": (
        "ring8",
        1.0,
        0.01,
        [(math.cos(i * math.pi * 2 / 8), math.sin(i * math.pi * 2 / 8)) for i in range(8)],
    ),
    "pacgan_grid": (
        "grid25",
        2.0,
        0.05,
        [(i, j) for i in range(-4, 5, 2) for j in range(-4, 5, 2)],
    ),
}


@pytest.mark.parametrize("name", sorted(PACGAN_TARGETS))
def test_the_pacgan_studies_hold_the_authors_recipe(name):
    """studies/pacgan_ring.yaml and pacgan_grid.yaml sweep pack 1-4 (GAN, PacGAN2-4) with
    every number of the authors' code that ganstudy can express; the batch is 100 samples
    (theirs is 100 packs: the files' headers list it first among the differences)."""
    spec = load_spec(REPO / "studies" / f"{name}.yaml")
    target, scale, std, means = PACGAN_TARGETS[name]
    assert {key: spec.fixed[key] for key in PACGAN} == PACGAN
    assert (spec.fixed["target"], spec.fixed["target_scale"], spec.fixed["target_std"]) == (
        target,
        scale,
        std,
    )
    assert {key: d.to_plain() for key, d in spec.dimensions.items()} == {
        "pack": {"grid": [1, 2, 3, 4]}
    }
    assert spec.fixed["batch_size"] == 100 and spec.fixed["hidden_bias"]
    built = make_target(target, scale, std)
    assert built.std == std

    def points(xy):  # the set of points, to 1e-9 (cos(pi / 2) is 6e-17, not 0)
        return {(round(x, 9), round(y, 9)) for x, y in xy}

    assert built.n_modes == len(means) and points(built.modes.tolist()) == points(means)


# ----------------------------------------------------------------------------- bad input


def mutate(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    if value is DELETE:
        del data[last]
    else:
        data[last] = value


DELETE = object()

# (change as {dotted key: value}, key path the error must name, a word of the message/fix)
BAD = [
    # unknown keys, with a did-you-mean
    ({"metirc": "js_binned"}, "metirc", "did you mean 'metric'"),
    ({"lr_d": 0.1}, "lr_d", "params"),
    ({"params.lr_dd": 0.1}, "params.lr_dd", "did you mean 'lr_d'"),
    ({"search.algoritm": "grid"}, "search.algoritm", "did you mean 'algorithm'"),
    ({"resources.cpus": 1}, "resources.cpus", "did you mean 'cpu'"),
    ({"params.k": {"grids": [1, 2]}}, "params.k.grids", "did you mean 'grid'"),
    ({"params.probe_steps": 100}, "params.probe_steps", "remove the key"),  # retired
    ({"scheduler": {"name": "asha", "grace": 100}}, "scheduler.grace", "grace_period"),
    # wrong types
    ({"params.k": True}, "params.k", "int"),
    ({"params.lr_d": "fast"}, "params.lr_d", "number"),
    ({"params.k": [1, 2]}, "params.k", "{grid:"),
    ({"params.k": {"uniform": [1, 5]}}, "params.k.uniform", "randint"),
    ({"params.lr_d": {"randint": [1, 5]}}, "params.lr_d.randint", "uniform"),
    ({"max_concurrent": "four"}, "max_concurrent", "integer"),
    ({"resources.gpu": "half"}, "resources.gpu", "number"),
    ({"params": [1]}, "params", "mapping"),
    # out-of-range values, also inside dimensions
    ({"params.k": {"grid": [0, 1]}}, "params.k.grid[0]", ">= 1"),
    ({"params.lr_d": -1}, "params.lr_d", "> 0"),
    ({"params.beta1": {"uniform": [0.5, 1.5]}}, "params.beta1.uniform[1]", "[0, 1)"),
    ({"steps": 0}, "steps", ">= 1"),
    ({"params.eval_batch": 64}, "params.eval_batch", ">= 128"),
    ({"eval_every": 50000}, "eval_every", "never report"),
    ({"max_failures": -1}, "max_failures", ">= 0"),
    ({"resources": {"cpu": 0, "gpu": 0}}, "resources", "not both 0"),
    ({"resources.gpu": 1.5}, "resources.gpu", "trains on one GPU"),
    ({"resources.gpu": 2}, "resources.gpu", "<= 1"),
    ({"params.device": "cuda"}, "params.device", "resources.gpu"),
    # unknown loss / target, listing the known ones
    ({"params.loss": {"choice": ["minimax", "foo"]}}, "params.loss.choice[1]", "minimax"),
    ({"params.loss": {"grid": ["minimax", "foo"]}}, "params.loss.grid[1]", "wgan_gp"),
    ({"target": "ring9"}, "target", "ring8"),
    # metrics
    ({"metric": "js_dd"}, "metric", "did you mean 'js_d'"),
    ({"metric": "js_d"}, "metric", "wgan_gp"),
    ({"metric": "d_real", "params.loss": "wasserstein"}, "metric", "js_binned"),
    ({"metric": DELETE}, "metric", "missing"),
    ({"mode": "minimize"}, "mode", "min or max"),
    # search
    ({"search": {"algorithm": "optuna", "num_samples": 10}}, "params.loss", "optuna"),
    ({"search": {"algorithm": "random"}}, "search.num_samples", "num_samples"),
    ({"search": {"algorithm": "bayes"}}, "search.algorithm", "optuna"),
    ({"search": {"algorithm": "grid", "num_samples": 0}}, "search.num_samples", ">= 1"),
    ({"params.g_width": {"choice": [64, 128]}}, "params.g_width", "algorithm: random"),
    ({"params.k": {"grid": [1, 1]}}, "params.k.grid", "twice"),
    ({"params.k": {"grid": []}}, "params.k.grid", "list"),
    # bounds
    ({"params.lr_d": {"uniform": [1e-3, 1e-4]}}, "params.lr_d.uniform", "below"),
    ({"params.lr_d": {"loguniform": [0, 1e-3]}}, "params.lr_d.loguniform", "> 0"),
    ({"params.k": {"randint": [3, 3]}}, "params.k.randint", "below"),
    ({"params.lr_d": {"uniform": [1e-4]}}, "params.lr_d.uniform", "two bounds"),
    # schedulers
    ({"scheduler": {"name": "hyperband"}}, "scheduler.name", "asha"),
    ({"scheduler": {"name": ["asha"]}}, "scheduler.name", "asha"),
    ({"scheduler": {"name": "asha", "grace_period": 750}}, "scheduler.grace_period", "multiple"),
    ({"scheduler": {"name": "asha", "reduction_factor": 1}}, "scheduler.reduction_factor", "> 1"),
    ({"scheduler": {"name": "pbt"}}, "params.lr_d", "loguniform"),
    ({"scheduler": {"name": "pbt", "mutable": ["k"]}}, "scheduler.mutable", "float"),
    ({"scheduler": {"name": "pbt", "mutable": ["lr_g"]}}, "params.lr_g", "fixed"),
    (
        {
            "search": {"algorithm": "random", "num_samples": 4},
            "params.lr_d": {"loguniform": [1e-5, 1e-3]},
            "params.beta1": {"uniform": [0.0, 0.9]},
            "scheduler": {"name": "pbt", "mutable": ["lr_d", "beta1"]},
        },
        "params.beta1",
        "{choice:",
    ),
    # name
    ({"name": "../escape"}, "name", "folder"),
    ({"name": DELETE}, "name", "missing"),
    # the same field twice
    ({"params.steps": 100}, "params.steps", "once"),
]


@pytest.mark.parametrize(
    ("change", "key", "hint"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)]
)
def test_bad_input_is_one_line_naming_file_and_key(tmp_path, change, key, hint):
    data = base()
    for dotted, value in change.items():
        mutate(data, dotted, value)
    path = write(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert hint in message, message
    assert info.value.path == key


def test_pbt_under_optuna_is_refused():
    data = base()
    data["search"] = {"algorithm": "optuna", "num_samples": 8}
    data["params"] = {"lr_d": {"loguniform": [1e-5, 1e-3]}, "lr_g": {"loguniform": [1e-5, 1e-3]}}
    data["scheduler"] = {"name": "pbt", "perturbation_interval": 1000}
    with pytest.raises(SpecError, match=r"search\.algorithm: pbt cannot run under optuna"):
        spec_from_dict(data)


def test_pbt_needs_a_population():
    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 1}
    data["params"] = {"lr_d": {"loguniform": [1e-5, 1e-3]}, "lr_g": {"loguniform": [1e-5, 1e-3]}}
    data["scheduler"] = {"name": "pbt"}
    with pytest.raises(SpecError, match="population"):
        spec_from_dict(data)


def test_metric_on_probability_losses_only_is_fine():
    data = base()
    data["metric"] = "js_d"
    data["params"]["loss"] = {"grid": ["minimax", "nonsaturating"]}
    assert spec_from_dict(data).metric == "js_d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nparams:\n  k: [1, 2\n", "YAML syntax error"),
        ("name: x\n  bad: indent\n", "line 2"),
        ("name: x\nparams:\n  k: 1\n  k: 2\n", "line 4: YAML syntax error: key 'k' is given twice"),
        ("", "must be a mapping"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_yaml_problems_are_one_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert "\n" not in str(info.value) and expected in str(info.value), str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def test_spec_error_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(SpecError("a.yaml", "params.k", "bad")))
    assert str(error) == "a.yaml: params.k: bad" and error.path == "params.k"


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "nope.yaml")


def test_spec_is_frozen():
    spec = spec_from_dict(base())
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_input_is_not_modified():
    data = base()
    before = copy.deepcopy(data)
    data["scheduler"] = {"name": "asha"}
    before["scheduler"] = {"name": "asha"}
    spec_from_dict(data)
    assert data == before


def test_num_trials_is_the_grid_product():
    data = base()
    data["params"] = {"k": {"grid": [1, 2, 3]}, "d_width": {"grid": [32, 64]}}
    data["search"] = {"algorithm": "grid", "num_samples": 2}
    assert spec_from_dict(data).num_trials() == math.prod([3, 2, 2])


@pytest.mark.parametrize(
    ("written", "fuse"),
    [
        ("off", "off"),
        ("Off", "off"),
        ("false", "off"),
        ("no", "off"),
        ("auto", "auto"),
        ("'off'", "off"),
    ],
)
def test_fuse_as_the_readme_writes_it(tmp_path, written, fuse):
    """`fuse: off` (the README's spelling) is YAML 1.1's false, as are false and no: off."""
    text = BALANCE.replace(
        "scheduler: {name: fifo}\n", f"scheduler: {{name: fifo}}\nfuse: {written}\n"
    )
    assert load_spec(write(tmp_path, text)).fuse == fuse


@pytest.mark.parametrize("written", ["on", "yes", "true", "automatic", "1"])
def test_fuse_other_than_auto_or_off_is_refused(tmp_path, written):
    text = BALANCE + f"fuse: {written}\n"
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    assert info.value.path == "fuse" and "expected auto or off" in info.value.message


def test_a_name_over_the_length_limit_is_told_the_limit():
    data = base()
    data["name"] = "n" * MAX_NAME_CHARS
    assert spec_from_dict(data).name == "n" * MAX_NAME_CHARS
    data["name"] = "n" * (MAX_NAME_CHARS + 1)
    message = refused_at(data, "name")
    assert f"{MAX_NAME_CHARS + 1} characters" in message
    assert "at most 100 letters" in message  # the README's number


# ------------------------------------------------------------- numbers that are no number

NON_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])
FLOAT_PARAMS = ["lr_d", "lr_g", "beta1", "clip", "gp_weight", "r1", "quality_sigmas"]


def refused_at(data: dict, key: str) -> str:
    with pytest.raises(SpecError) as info:
        spec_from_dict(data)
    assert info.value.path == key, str(info.value)
    assert "\n" not in str(info.value)
    return info.value.message


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(FLOAT_PARAMS), value=NON_FINITE)
def test_non_finite_params_are_refused(key, value):
    data = base()
    data["params"][key] = value
    assert "finite" in refused_at(data, f"params.{key}")


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["uniform", "loguniform"]),
    value=NON_FINITE,
    end=st.sampled_from([0, 1]),
)
def test_non_finite_bounds_are_refused(kind, value, end):
    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 2}
    bounds = [1e-4, 1e-2]
    bounds[end] = value
    data["params"] = {"lr_d": {kind: bounds}}
    assert "finite" in refused_at(data, f"params.lr_d.{kind}")


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["uniform", "loguniform"]),
    bounds=st.lists(st.floats(1e-12, 100.0), min_size=2, max_size=2, unique=True).map(sorted),
)
def test_any_finite_bounds_inside_the_range_are_accepted(kind, bounds):
    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 2}
    data["params"] = {"lr_d": {kind: bounds}}
    assert spec_from_dict(data).dimensions["lr_d"].args == tuple(bounds)


@settings(max_examples=40, deadline=None)
@given(hi=st.integers(2**62 + 2, 2**400))
def test_huge_randint_bounds_are_refused_at_their_end(hi):
    data = base()
    data["search"] = {"algorithm": "random", "num_samples": 2}
    data.pop("seed")
    data["params"] = {"seed": {"randint": [0, hi]}}
    assert "<=" in refused_at(data, "params.seed.randint[1]")


@settings(max_examples=40, deadline=None)
@given(value=NON_FINITE)
def test_non_finite_grid_values_are_refused(value):
    data = base()
    data["params"]["lr_d"] = {"grid": [1e-3, value]}
    assert "finite" in refused_at(data, "params.lr_d.grid[1]")


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(
        [
            "resources.cpu",
            "resources.gpu",
            "scheduler.reduction_factor",
            "scheduler.quantile_fraction",
        ]
    ),
    value=st.one_of(NON_FINITE, st.sampled_from([".nan", "inf", "-inf", "1e999"])),
)
def test_non_finite_resources_and_scheduler_numbers_are_refused(key, value):
    data = base()
    if key.startswith("scheduler."):
        data["search"] = {"algorithm": "random", "num_samples": 4}
        data["params"] = {
            "lr_d": {"loguniform": [1e-5, 1e-3]},
            "lr_g": {"loguniform": [1e-5, 1e-3]},
        }
        data["scheduler"] = {"name": "asha" if "reduction" in key else "pbt"}
    section, name = key.split(".")
    data[section] = {**data.get(section, {}), name: value}
    assert "finite" in refused_at(data, key)


@settings(max_examples=60, deadline=None)
@given(cpu=st.floats(0, 1024), gpu=st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_resources_in_range_are_accepted(cpu, gpu):
    data = base()
    data["resources"] = {"cpu": cpu, "gpu": gpu}
    if cpu + gpu == 0:
        return
    spec = spec_from_dict(data)
    assert (spec.resources.cpu, spec.resources.gpu) == (cpu, gpu)


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(["max_concurrent", "max_failures", "search.num_samples"]),
    value=st.integers(100_001, 2**200),
)
def test_huge_integers_in_the_study_are_refused_briefly(key, value):
    data = base()
    if key == "search.num_samples":
        data["search"] = {"algorithm": "grid", "num_samples": value}
    else:
        data[key] = value
    message = refused_at(data, key)
    assert "<=" in message and len(message) < 300


@settings(max_examples=40, deadline=None)
@given(
    key=st.sampled_from(["seed", "steps", "batch_size", "replicas"]),
    value=st.integers(2**62 + 1, 2**300),
)
def test_huge_params_and_bounds_are_refused(key, value):
    data = base()
    data.pop(key, None)
    data["params"][key] = value
    where = "params." + key
    assert "<=" in refused_at(data, where)
    data["params"][key] = {"grid": [1, value]}
    refused_at(data, where + ".grid[1]")


def test_yaml_spellings_of_infinity_are_refused(tmp_path):
    for text, key in [
        ("params: {lr_d: .inf}", "params.lr_d"),
        ("params: {lr_d: .nan}", "params.lr_d"),
        ("params: {target_std: .inf}", "params.target_std"),
        ("resources: {cpu: .nan}", "resources.cpu"),
        ("resources: {cpu: 1, gpu: -.inf}", "resources.gpu"),
        ("params: {lr_d: {uniform: [0.001, .inf]}}\nsearch: {algorithm: random, num_samples: 2}",
         "params.lr_d.uniform"),
    ]:  # fmt: skip
        study = "name: x\nmetric: js_binned\nmode: min\n" + text + "\n"
        with pytest.raises(SpecError) as info:
            load_spec(write(tmp_path, study))
        assert info.value.path == key and "finite" in info.value.message, str(info.value)


def test_swept_sizes_are_checked_together_for_memory():
    data = base()
    data["params"] = {"batch_size": {"grid": [128, 2**17]}, "replicas": {"grid": [1, 64]}}
    data.pop("replicas")
    message = refused_at(data, "params.batch_size")
    assert "GiB" in message and "batch_size=131072" in message and "replicas=64" in message
    data["params"]["replicas"] = {"grid": [1, 2]}  # 2 x 2^17: fits
    assert spec_from_dict(data).num_trials() == 4


# ------------------------------------------------------------- grids of absurd size


def grid_study(num_samples: int) -> dict:
    data = base()
    values = list(range(1, 11))
    data["params"] = {key: {"grid": values} for key in ["k", "z_dim", "g_depth", "d_depth"]}
    data["params"]["d_width"] = {"grid": [8 * v for v in values]}  # 10^5 trials per sample
    data["search"] = {"algorithm": "grid", "num_samples": num_samples}
    return data


def test_a_grid_beyond_the_limit_is_refused_with_its_count():
    from ganstudy.study.spec import MAX_TRIALS

    message = refused_at(grid_study(2), "params.k")  # the first of the largest grids
    assert "200,000 trials" in message and f"{MAX_TRIALS:,}" in message
    assert "num_samples 2 x 10 k x 10 z_dim" in message


def test_a_large_grid_is_warned_about():
    from ganstudy.study.spec import WARN_TRIALS, size_warning

    spec = spec_from_dict(grid_study(1))
    assert spec.num_trials() == 10**5
    warning = size_warning(spec)
    assert warning is not None and "100,000 trials" in warning and f"{WARN_TRIALS:,}" in warning
    assert size_warning(spec_from_dict(base())) is None  # 72 trials


# ------------------------------------------------------------- files that are not studies


def quickly_refused(path: Path) -> SpecError:
    """One line, in well under a second and a few MB (an expanding bomb would take both)."""
    import time
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SpecError) as info:
            load_spec(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 400
    assert elapsed < 2.0 and peak < 30 * 2**20, (elapsed, peak)
    return info.value


def laughs(levels: int = 9) -> str:
    """A billion-laughs flow list: level i holds 9 aliases of level i-1 (9^9 leaves)."""
    parts = ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
    for i in range(1, levels):
        parts.append(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "[" + ", ".join(parts) + "]"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), ["binary", "NUL"]),
        ("name: café\nmode: min\n".encode("latin-1"), ["line 1", "not UTF-8", "0xe9"]),
        (b"name: x\nmode: \x07min\n", ["#x0007", "not allowed"]),
        (b"x: " + b"[" * 10_000 + b"]" * 10_000 + b"\n", ["nested deeper than 32"]),
        (b"x: " + b"[" * 40 + b"]" * 40 + b"\n", ["line 1", "nested deeper than 32"]),
        (b"name: x\nparams:\n  lr_d: " + laughs().encode() + b"\n", ["line 3", "expands"]),
        (b"name: " + laughs().encode() + b"\nmetric: js_binned\n", ["line 1", "expands"]),
        (b"name: &n [a, *n]\n", ["recursive"]),
        (b"name: x\n" + b"# padding\n" * 120_000, ["larger than 1 MiB"]),
        (b"? [a, b]\n: 1\n", ["unhashable"]),
        (b"name: x\n? " + b"k" * 10**5 + b"\n: 1\n", ["unknown key"]),  # explicit: any length
        (b"name: x\n? " + b"k" * 10**5 + b"\n: 1\n? " + b"k" * 10**5 + b"\n: 2\n", ["twice"]),
    ],
    ids=[
        "binary", "latin-1", "control-char", "deep", "deep-40", "bomb-lr_d", "bomb-name",
        "recursive", "huge", "unhashable-key", "long-key", "long-key-twice",
    ],
)  # fmt: skip
def test_files_that_are_not_studies_are_one_quick_line(tmp_path, content, words):
    path = tmp_path / "study.yaml"
    path.write_bytes(content)
    message = str(quickly_refused(path))
    for word in words:
        assert word in message, (word, message)


def test_a_directory_is_not_a_study_file(tmp_path):
    with pytest.raises(SpecError, match="a folder, not a file; give a study file"):
        load_spec(tmp_path)


def test_deep_but_legal_nesting_and_small_aliases_still_load(tmp_path):
    study = BALANCE.replace("  g_width: 128\n", "  g_width: &w 128\n  z_dim: *w\n")
    spec = load_spec(write(tmp_path, study))
    assert spec.fixed["z_dim"] == 128


# --- issue 13: values YAML reads as something else, grids of nothing ----------------------


@pytest.mark.parametrize("kind", ["grid", "choice"])
def test_an_empty_grid_or_choice_says_it_makes_zero_trials(kind):
    data = base()
    data["params"]["k"] = {kind: []}
    message = refused_at(data, f"params.k.{kind}")
    assert "is empty" in message and "zero trials" in message and "at least one" in message


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("2024-01-01", "YAML reads it as a date, not text; quote it: name: '2024-01-01'"),
        ("2024-01-01 10:00:00", "YAML reads it as a date and time"),
        ("123", "YAML reads it as a number"),
        ("yes", "YAML reads it as a boolean"),
    ],
)
def test_a_name_yaml_reads_as_a_date_or_number_says_to_quote_it(tmp_path, written, words):
    text = BALANCE.replace("name: balance", f"name: {written}", 1)
    assert f"name: {written}" in text
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    assert info.value.path == "name" and words in info.value.message


def test_a_long_study_path_is_clipped_in_the_middle():
    long = "/tmp/" + "d" * 3000 + "/study.yaml"
    message = str(SpecError(long, "name", "missing"))
    assert len(message) < 200 and message.startswith("/tmp/d") and "…" in message
    assert "study.yaml: name: missing" in message


@pytest.mark.parametrize("text", ['"": 1\n', 'params: {"": 1}\n'])
def test_an_empty_key_is_named_visibly(tmp_path, text):
    path = tmp_path / "e.yaml"
    path.write_text("name: x\nmetric: js_binned\nmode: min\n" + text)
    with pytest.raises(SpecError, match="''"):
        load_spec(path)
