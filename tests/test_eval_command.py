"""`ganstudy eval` / `ganstudy.evaluate_samples`: ganstudy's metrics of samples made anywhere,
checked on reference samples whose scores are known (real data: near perfect; one class or
one mode: counts, log(modes) and a JS computed here from the class masses), and its bad
input (one line, exit 2)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from mnist_files import write_idx  # tests/mnist_files.py

import ganstudy
from ganstudy.cli import main
from ganstudy.engine.sample_metrics import NOT_FROM_SAMPLES, SAMPLE_METRICS, SamplesError
from ganstudy.engine.targets import make_target
from ganstudy.engine.targets.digits import HELD_OUT_FRACTION, SPLIT_SEED

DIGITS = make_target("digits")
HELD_OUT = DIGITS.held_out()[0].numpy()  # (360, 64) in [-1, 1], never trained on
SMALL = {"eval_samples": 360, "eval_batch": 360, "coverage_samples": 360}  # all 360 measured


def small_set(settings: dict[str, int]) -> list[str]:
    return ["--set", *(f"{key}={value}" for key, value in settings.items())]


def js(p: np.ndarray, q: np.ndarray) -> float:
    """JS divergence (nats) of two discrete distributions, written out (0 log 0 = 0)."""
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        return sum(a_i * math.log(a_i / m_i) for a_i, m_i in zip(a, m, strict=True) if a_i > 0)

    return 0.5 * kl(p) + 0.5 * kl(q)


def test_real_held_out_digits_score_perfectly():
    # The 360 held-out digits, N x H x W. fd, precision and recall compare them with the
    # fixed held-out reference (metrics.FEATURE_POINTS = 2048 >= 360: today all 360 of the
    # same images), so fd is 0 and both fractions 1 up to rounding; >= 0.9 is what holds
    # should the reference become another sample of real digits (helper `labels` may
    # rebalance the precision / recall sample sizes).
    values = ganstudy.evaluate_samples("digits", HELD_OUT.reshape(-1, 8, 8), device="cpu", **SMALL)
    assert values["modes_captured"] == 10
    assert values["mode_kl"] < 0.02  # classes 34-37 of 360 (stratified): KL ~ 1e-3
    assert values["js_binned"] < 0.01  # plug-in bias ~ 11 cells / (8 x 360) = 0.004
    assert values["js_probe"] < 0.05  # real against real: the bound is 0
    assert values["high_quality_frac"] > 0.85  # 92% of real digits (digits.QUALITY_CONFIDENCE)
    assert abs(values["fd"]) < 1e-3
    assert values["precision"] >= 0.9 and values["recall"] >= 0.9


def test_real_training_digits_at_the_default_sizes_score_near_perfectly():
    # 2,500 draws of the training split (what G learns), every eval size at its default:
    # the metrics a perfect generator gets. Measured: precision 0.91, recall 0.75 (2,048
    # generated features against 360 real ones: recall counts the 360 real points inside
    # the 2,048 points' k-NN balls); the bounds leave room for a rebalanced sample size.
    real = DIGITS.sample(2500, torch.Generator().manual_seed(7)).numpy()
    values = ganstudy.evaluate_samples("digits", real, device="cpu")
    assert values["modes_captured"] == 10
    assert values["mode_kl"] < 0.02 and values["js_binned"] < 0.01 and values["js_probe"] < 0.05
    assert 0 <= values["fd"] < 3  # a digit generator of 3s only: 205
    assert values["precision"] > 0.8 and values["recall"] > 0.5


def test_one_class_digits_capture_one_mode():
    # Every 3 of scikit-learn's digits that the classifier calls a 3 (175 of 183): one mode,
    # mode_kl = KL(one-hot || uniform) = log 10, and js_binned the JS of a one-hot histogram
    # against the training split's class masses, computed here from the split itself.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    threes = torch.from_numpy(data.data[data.target == 3] / 8.0 - 1.0)
    which, _ = DIGITS.assign_modes(threes, math.nan)
    threes = threes[which == 3].numpy()
    n = len(threes)
    values = ganstudy.evaluate_samples(
        "digits", threes, device="cpu", eval_samples=n, eval_batch=128, coverage_samples=n
    )
    assert values["modes_captured"] == 1
    assert values["mode_kl"] == pytest.approx(math.log(10), abs=1e-6)
    _, _, train_y, _ = train_test_split(
        data.data,
        data.target,
        test_size=HELD_OUT_FRACTION,
        stratify=data.target,
        random_state=SPLIT_SEED,
    )
    masses = np.bincount(train_y, minlength=10) / len(train_y)
    assert values["js_binned"] == pytest.approx(js(np.eye(10)[3], masses), abs=1e-6)
    assert values["js_probe"] > 0.3  # a k-NN probe tells one class from ten
    assert values["recall"] < 0.3  # one class covers about its own tenth of the real digits
    assert values["fd"] > 50


def test_stacked_digits_drawn_from_the_target_score_near_perfectly():
    # 26,000 stacks of three training digits, every size at its default: coverage_samples
    # follows the target (26 per mode: PacGAN's 26,000 on 1,000 modes), so stacks drawn from
    # the data capture nearly every mode: 1000 (1 - e^(-26000 x 0.84 / 1000)) = 1000 for
    # near-uniform modes at 84% high quality; >= 990 leaves room for the rarest stacks.
    target = make_target("stacked_digits")
    real = target.sample(26000, torch.Generator().manual_seed(5)).numpy().reshape(-1, 3, 8, 8)
    values = ganstudy.evaluate_samples("stacked_digits", real, device="cpu")
    assert values["modes_captured"] >= 990
    assert values["js_binned"] < 0.02  # plug-in bias ~ 1001 cells / (8 x 26,000) = 0.005
    assert values["js_probe"] < 0.05
    assert values["precision"] > 0.8 and values["recall"] > 0.8  # measured 0.91, 0.91
    with pytest.raises(SamplesError, match=re.escape("give (N, 3, 8, 8) or (N, 192)")):
        ganstudy.evaluate_samples("stacked_digits", real[:, 0], device="cpu")


RING8 = make_target("ring8")
HQ_2D = 1 - math.exp(-4.5)  # P(|x - mode| <= 3 std) of a 2-D Gaussian: 0.98889


def test_ring8_drawn_from_the_target_scores_perfectly():
    real = RING8.sample(20000, torch.Generator().manual_seed(3)).numpy()
    values = ganstudy.evaluate_samples("ring8", real, device="cpu")
    assert values["modes_captured"] == 8
    # 2,500 samples (coverage_samples): the fraction's std is 0.002.
    assert values["high_quality_frac"] == pytest.approx(HQ_2D, abs=0.007)
    assert values["mode_kl"] < 0.01
    assert values["js_binned"] < 0.02  # plug-in bias of 20,000 samples on the fine grid
    assert values["js_probe"] < 0.05
    assert all(math.isnan(values[name]) for name in ("fd", "precision", "recall"))


def test_ring8_at_one_mode_is_collapse_with_the_theoretical_js():
    # All of p_g on mode 0: one mode, mode_kl = log 8, and (the modes' supports apart) JS of
    # (1/8 here, 7/8 elsewhere) against (1, 0): the binned estimate meets it to its bias.
    noise = torch.randn(20000, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    one = (RING8.modes[0] + RING8.std * noise).numpy()
    values = ganstudy.evaluate_samples("ring8", one, device="cpu")
    assert values["modes_captured"] == 1
    assert values["mode_kl"] == pytest.approx(math.log(8), abs=1e-6)
    assert values["high_quality_frac"] == pytest.approx(HQ_2D, abs=0.007)
    theory = js(np.array([1 / 8, 7 / 8]), np.array([1.0, 0.0]))  # 0.4969
    assert values["js_binned"] == pytest.approx(theory, abs=0.005)
    assert values["js_probe"] > 0.4


def test_every_accepted_shape_measures_alike():
    images = HELD_OUT.reshape(-1, 1, 8, 8)
    forms = [images, images[:, 0], HELD_OUT, torch.from_numpy(images).float()]
    results = [ganstudy.evaluate_samples("digits", x, device="cpu", **SMALL) for x in forms]
    assert all(r == results[0] for r in results)


def test_unusable_samples_are_refused_with_the_fix():
    cases = [
        (np.zeros((3000, 3)), "do not fit target ring8; give (N, 2)"),
        (np.full((3000, 2), np.nan), "3000 of 3000 samples hold NaN or inf"),
        (np.zeros((100, 2)), "100 samples are too few: js_probe needs at least 128"),
        (np.zeros((2000, 2)), "--set eval_samples=2000 eval_batch=2000 coverage_samples=2000"),
        (np.zeros((3000, 2)), "measures 20000 (eval_samples 20000, eval_batch 2048, coverage"),
    ]
    for samples, words in cases:
        with pytest.raises(SamplesError, match=re.escape(words)):
            ganstudy.evaluate_samples("ring8", samples, device="cpu")
    with pytest.raises(SamplesError, match=r"x / 127.5 - 1"):
        ganstudy.evaluate_samples("digits", (HELD_OUT + 1) * 127.5, device="cpu", **SMALL)


# ------------------------------------------------------------------------------ the command


@pytest.fixture
def held_out_file(tmp_path):
    path = tmp_path / "held_out.npy"
    np.save(path, HELD_OUT.reshape(-1, 1, 8, 8).astype(np.float32))
    return path


def test_the_table_names_every_metric_and_why_js_d_is_missing(held_out_file, capsys):
    code = main(["eval", "--target", "digits", "--samples", str(held_out_file), *small_set(SMALL)])
    out = capsys.readouterr().out
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if not line.startswith(" ")}
    assert list(lines) == ["js_d", *SAMPLE_METRICS]
    assert "not measured: needs the trial's own discriminator" in lines["js_d"]
    assert lines["modes_captured"].split()[1] == "10"
    assert all(len(line) <= 80 for line in out.splitlines()[1:])


def test_json_holds_the_function_s_numbers(held_out_file, tmp_path, capsys):
    expected = ganstudy.evaluate_samples("digits", np.load(held_out_file), **SMALL)
    bundle = tmp_path / "two.npz"
    np.savez(bundle, fakes=np.load(held_out_file), other=np.zeros(3))
    for argv in (["--samples", str(held_out_file)], ["--samples", str(bundle), "--key", "fakes"]):
        code = main(["eval", "--target", "digits", *argv, *small_set(SMALL), "--json"])
        result = json.loads(capsys.readouterr().out)
        assert code == 0 and result["samples"] == 360
        assert result["metrics"] == expected
        assert result["not_measured"] == NOT_FROM_SAMPLES


def test_a_toy_s_missing_image_metrics_are_null_with_a_reason(tmp_path, capsys):
    path = tmp_path / "ring.npz"
    np.savez(path, RING8.sample(20000, torch.Generator().manual_seed(1)).numpy())
    assert main(["eval", "--target", "ring8", "--samples", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["fd"] is None and result["metrics"]["modes_captured"] == 8
    assert set(result["not_measured"]) == {"js_d", "fd", "precision", "recall"}
    assert "image targets only" in result["not_measured"]["fd"]


def test_mnist_reads_its_files_from_data_dir(tmp_path, capsys, monkeypatch):
    folder = write_idx(tmp_path / "mnist")
    images = make_target("mnist", data_dir=str(folder)).sample(200, torch.Generator())
    np.save(tmp_path / "fakes.npy", images.numpy().reshape(-1, 32, 32))
    monkeypatch.chdir(tmp_path)  # a relative --data-dir is made absolute
    sizes = small_set({"eval_samples": 200, "eval_batch": 128, "coverage_samples": 200})
    argv = ["eval", "--target", "mnist", "--samples", "fakes.npy", *sizes, "--json"]
    assert main([*argv, "--data-dir", "mnist"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["modes_captured"] == 10 and result["metrics"]["fd"] is not None
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--data-dir DIR" in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--target", "ring9"], "unknown target; known: gaussian1d, mixture1d, ring8"),
        (["--target", "ring8"], "do not fit target ring8; give (N, 2)"),
        (["--target", "digits", "--set", "coverage_samples=0"], "coverage_samples: must be >= 1"),
        (["--target", "digits", "--set", "k=2"], "--set k: does not change what eval measures"),
        (["--target", "digits", "--set", "target_std=2"], "do not apply to the digits target"),
        (["--target", "digits"], "give 2500 samples, or measure fewer with --set eval_samples=360"),
        (["--target", "digits", "--key", "x"], "--key names an array of a .npz file"),
        (["--target", "digits", "--samples", "missing.npy"], "missing.npy: no such file"),
        (["--target", "digits", "--samples", "x.csv"], "expected a .npy or .npz file"),
        (["--target", "digits", "--samples", "nan.npy"], "1 of 360 samples hold NaN or inf"),
        (["--target", "digits", "--samples", "text.npy"], "not a numpy .npy file"),
        (["--target", "digits", "--samples", "two.npz"], "2 arrays (a, b); name one with --key"),
        (["--target", "digits", "--samples", "objects.npy"], "not a numpy .npy file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, words, held_out_file, tmp_path, capsys):
    with_nan = HELD_OUT.copy()
    with_nan[5, 3] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    (tmp_path / "text.npy").write_text("not an array")
    np.savez(tmp_path / "two.npz", a=HELD_OUT, b=HELD_OUT)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    samples = ["--samples", str(held_out_file)] if "--samples" not in argv else []
    argv = [a if not a.endswith((".npy", ".npz", ".csv")) else str(tmp_path / a) for a in argv]
    if "nan.npy" in " ".join(argv) or "two.npz" in " ".join(argv):
        argv += small_set(SMALL)
    code = main(["eval", *argv, *samples])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("ganstudy: error: ")
    assert words in err


@pytest.mark.parametrize(
    "settings",
    [
        {"target": "digits"},  # fd, precision, recall (no high-quality fakes yet)
        {"target": "ring8", "quality_sigmas": 200.0},  # every fake high quality: mode_kl finite
    ],
)
def test_sample_metrics_are_the_numbers_a_trainer_s_eval_reports(settings):
    # The same fakes and real batch the trainer's eval draws (its seeds, its G pass), measured
    # by SampleMetrics: every number equals the trainer's row, so evaluate_samples gives a
    # GAN trained elsewhere the numbers of ganstudy's tables.
    from ganstudy.config import TrialConfig
    from ganstudy.engine.evaluation import chunked
    from ganstudy.engine.sample_metrics import SampleMetrics, samples_needed
    from ganstudy.engine.streams import STREAM_EVAL, mixed_seed
    from ganstudy.engine.trainer import Trainer

    sizes = {"eval_batch": 128, "eval_samples": 300, "coverage_samples": 200}
    config = TrialConfig(g_width=8, d_width=8, steps=20, device="cpu", **sizes, **settings)
    trainer = Trainer(config)
    trainer.train(20)
    row = trainer.evaluate().rows[0]
    g = torch.Generator().manual_seed(mixed_seed(config.seed, STREAM_EVAL, 20))
    real = trainer.target.sample(config.eval_batch, g).float()[None]
    z = torch.randn(1, samples_needed(config, trainer.target), config.z_dim, generator=g)
    with torch.no_grad():
        fake = chunked(trainer.generator.eval(), z, config.batch_size).flatten(2)
        values, counts = SampleMetrics(trainer.target, trainer.device).measure(real, fake, config)
    measured = [float(values[name][0]) for name in SAMPLE_METRICS]
    np.testing.assert_array_equal(measured, [row[name] for name in SAMPLE_METRICS])  # NaN = NaN
    assert counts.sum() == round(row["high_quality_frac"] * config.coverage_samples)
