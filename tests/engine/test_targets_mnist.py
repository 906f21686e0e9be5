"""The MNIST family from local files: tiny synthetic IDX (gzipped and plain) and .npz files
load alike, padded to 32x32 in [-1, 1]; missing or corrupt files give one ConfigError line
naming the path (exit 2 from the command line); the classifier is deterministic, trained
once and cached by content hash next to the data."""

from __future__ import annotations

import gzip
import importlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from mnist_files import idx_bytes, synthetic, write_idx  # noqa: F401 (tests/mnist_files.py)

from ganstudy.cli import main
from ganstudy.config import ConfigError, TrialConfig
from ganstudy.engine.targets import Mnist, make_target

# The module (the package attribute `mnist` is the target factory, which shadows it).
mnist_module = importlib.import_module("ganstudy.engine.targets.mnist")
# Debian's dataset-fashion-mnist installs the IDX files here (or name a copy of them).
FASHION = Path(os.environ.get("GANSTUDY_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def write_npz(path: Path, **drop: bool) -> Path:
    (train_x, train_y), (test_x, test_y) = synthetic(200, 0), synthetic(100, 1)
    arrays = {"x_train": train_x, "y_train": train_y, "x_test": test_x, "y_test": test_y}
    np.savez(path, **{k: v for k, v in arrays.items() if not drop.get(k)})
    return path


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_idx_gz_plain_mixed_and_npz_load_alike(tmp_path):
    targets = [
        make_target("mnist", data_dir=str(write_idx(tmp_path / "gz", gz=True))),
        make_target("mnist", data_dir=str(write_idx(tmp_path / "plain", gz=False))),
        make_target("mnist", data_dir=str(write_idx(tmp_path / "mix", gz=[True, False] * 2))),
        make_target("mnist", data_dir=str(write_npz(tmp_path / "mnist.npz"))),
    ]
    (tmp_path / "folder").mkdir()
    write_npz(tmp_path / "folder" / "keras.npz")  # a folder holding one .npz
    targets.append(make_target("mnist", data_dir=str(tmp_path / "folder")))
    first = targets[0]
    x, y = first.held_out()
    assert first.shape == (1, 32, 32) and first.dim == 1024 and first.n_modes == 10
    assert x.shape == (100, 1024) and x.dtype == torch.float64
    images = x.reshape(100, 32, 32)
    assert float(images.min()) == -1.0 and float(images.max()) <= 1.0
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert bool((images[:, border] == -1.0).all())  # zero padding: black, -1 once scaled
    raw = synthetic(100, 1)[0].astype(np.float64) / 127.5 - 1
    assert np.array_equal(images[:, 2:30, 2:30].numpy(), raw)
    for other in targets[1:]:
        ox, oy = other.held_out()
        assert torch.equal(ox, x) and torch.equal(oy, y)
        assert torch.equal(other.sample(50, gen(3)), first.sample(50, gen(3)))
    train = first._split()["train_x"]  # samples come from the training split only
    sample = first.sample(300, gen(4))
    # cdist rounds (a matmul): 1e-3 is far below one grey level, 2 / 255
    assert torch.cdist(sample, (train.double() / 127.5 - 1)).min(-1).values.max() < 1e-3


def test_stacked_mnist_reads_the_same_files(tmp_path):
    folder = str(write_idx(tmp_path / "d"))
    stacked = make_target("stacked_mnist", data_dir=folder)
    assert stacked.shape == (3, 32, 32) and stacked.dim == 3072 and stacked.n_modes == 1000
    x, y = stacked.sample_labeled(64, gen(0))
    assert x.shape == (64, 3072) and int(y.max()) < 1000
    masses = stacked.bin_masses(stacked.binning())
    assert masses.shape == (1001,) and masses.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert make_target("fashion_mnist", data_dir=folder).name == "fashion_mnist"


def message_of(target: str, data_dir: str) -> str:
    with pytest.raises(ConfigError) as error:
        make_target(target, data_dir=data_dir).sample(4, gen(0))
    text = str(error.value)
    assert "\n" not in text and text.startswith("data_dir: ")
    return text


def test_missing_and_corrupt_files_name_the_path_and_the_source(tmp_path):
    folder = write_idx(tmp_path / "d", gz=True)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    text = message_of("mnist", str(folder))
    assert "t10k-labels-idx1-ubyte" in text and "missing" in text and "MNIST site" in text

    bad = write_idx(tmp_path / "bad", gz=False)
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x12\x34\x08\x03" + bytes(12))
    text = message_of("fashion_mnist", str(bad))
    assert "train-images-idx3-ubyte" in text and "magic number" in text
    assert "zalandoresearch" in text

    cut = write_idx(tmp_path / "cut", gz=True)
    raw = gzip.decompress((cut / "train-labels-idx1-ubyte.gz").read_bytes())
    (cut / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:-5]))
    assert "header says" in message_of("mnist", str(cut))

    broken = write_idx(tmp_path / "broken", gz=True)
    (broken / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    assert "cannot be read" in message_of("mnist", str(broken))

    assert "no IDX or .npz" in message_of("mnist", str(tmp_path / "broken" / ".."))
    assert "no such folder" in message_of("mnist", str(tmp_path / "nowhere"))
    npz = write_npz(tmp_path / "partial.npz", y_test=True)
    assert "has no y_test" in message_of("mnist", str(npz))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert "not a readable .npz" in message_of("mnist", str(tmp_path / "junk.npz"))
    labels = write_idx(tmp_path / "labels", gz=False)
    raw = bytearray((labels / "train-labels-idx1-ubyte").read_bytes())
    raw[-1] = 12
    (labels / "train-labels-idx1-ubyte").write_bytes(bytes(raw))
    assert "labels outside 0..9" in message_of("mnist", str(labels))


def test_config_requires_an_existing_data_dir(tmp_path):
    with pytest.raises(ConfigError, match="^data_dir: target mnist reads its images"):
        TrialConfig(target="mnist")
    with pytest.raises(ConfigError, match="nowhere': no such folder"):
        TrialConfig(target="stacked_mnist", data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="is relative, but each trial runs in its own"):
        TrialConfig(target="mnist", data_dir="data/mnist")
    config = TrialConfig(target="mnist", data_dir=str(tmp_path), model="dcgan")
    assert config.data_dir == str(tmp_path)
    assert TrialConfig(target="ring8", data_dir="/ignored/elsewhere").data_dir  # not read


def test_the_command_line_exits_2_with_one_line(tmp_path, capsys):
    folder = write_idx(tmp_path / "d", gz=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\0\0\x09\x03")  # not unsigned bytes
    code = main(["trial", "--set", "target=mnist", f"data_dir={folder}", "steps=1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "train-images-idx3-ubyte.gz" in err
    code = main(["trial", "--set", "target=mnist", f"data_dir={tmp_path / 'none'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no such folder" in err


def test_classifier_is_trained_once_cached_by_content_and_deterministic(tmp_path, monkeypatch):
    a = make_target("mnist", data_dir=str(write_idx(tmp_path / "a")))
    assert isinstance(a, Mnist)
    x, y = a.held_out()
    which, good = a.assign_modes(x, 3.0)
    assert float((which == y).double().mean()) >= 0.95 and a.classifier_accuracy() >= 0.95
    assert float(good.double().mean()) > 0.5
    assert a.features(x).shape == (100, 64)
    stored = list((tmp_path / "a").glob("ganstudy-classifier-*.pt"))
    assert len(stored) == 1 and mnist_module._data(str(tmp_path / "a"), "mnist")["digest"] in (
        stored[0].name
    )
    # A fresh process (caches cleared) loads the file; it does not train again.
    mnist_module._classifier.cache_clear()
    monkeypatch.setattr(mnist_module, "_train", lambda *_: pytest.fail("trained again"))
    again = make_target("mnist", data_dir=str(tmp_path / "a"))
    assert torch.equal(again.features(x), a.features(x))
    monkeypatch.undo()
    # The same images elsewhere (plain IDX): the same digest, and trained anew the same.
    b = make_target("mnist", data_dir=str(write_idx(tmp_path / "b", gz=False)))
    assert torch.equal(b.features(x), a.features(x))
    assert [p.name for p in (tmp_path / "b").glob("*.pt")] == [stored[0].name]
    # Other training images: another digest, another file.
    c = make_target("mnist", data_dir=str(write_idx(tmp_path / "c", n_train=210)))
    c.features(x[:1])
    assert [p.name for p in (tmp_path / "c").glob("*.pt")] != [stored[0].name]


@pytest.mark.parametrize("damage", ["random bytes", "other tensors"])
def test_a_damaged_classifier_cache_is_retrained_never_loaded_unsafely(
    tmp_path, monkeypatch, damage
):
    """A cache file overwritten with random bytes (torch's UnpicklingError, whose text
    advises weights_only=False) or holding other tensors is trained again, to
    the same weights (deterministic), with no error or warning, and the file is mended."""
    folder = write_idx(tmp_path / "d")
    first = make_target("mnist", data_dir=str(folder))
    x, _ = first.held_out()
    expected = first.features(x)
    [cache] = folder.glob("ganstudy-classifier-*.pt")
    whole = cache.read_bytes()
    if damage == "random bytes":
        cache.write_bytes(np.random.default_rng(0).bytes(len(whole)))
    else:
        stored = torch.load(cache, weights_only=True)
        torch.save(stored | {"weights": stored["weights"][:2]}, cache)
    trained, train = [], mnist_module._train
    monkeypatch.setattr(mnist_module, "_train", lambda *a: trained.append(1) or train(*a))
    mnist_module._classifier.cache_clear()  # a later trial, in a fresh process
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = make_target("mnist", data_dir=str(folder)).features(x)
    assert trained == [1] and torch.equal(again, expected)
    assert torch.load(cache, weights_only=True)["digest"] in cache.name  # mended
    mnist_module._classifier.cache_clear()
    make_target("mnist", data_dir=str(folder)).features(x[:1])
    assert trained == [1]  # the mended file is loaded, not trained again


def test_a_read_only_data_folder_caches_elsewhere(tmp_path, monkeypatch):
    folder = write_idx(tmp_path / "ro")
    monkeypatch.setenv("GANSTUDY_CACHE", str(tmp_path / "cache"))
    # Not writable (chmod would not stop root): os.access says no for the data's folder.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != folder and real_access(p, mode))
    make_target("mnist", data_dir=str(folder)).features(torch.zeros(1, 1024))
    assert not list(folder.glob("*.pt"))
    assert len(list((tmp_path / "cache").glob("ganstudy-classifier-*.pt"))) == 1


def test_dcgan_trains_on_mnist_files(tmp_path):
    from ganstudy.engine.trainer import Trainer

    config = TrialConfig(
        target="mnist",
        data_dir=str(write_idx(tmp_path / "d")),
        model="dcgan",
        g_width=4,
        d_width=4,
        z_dim=4,
        batch_size=8,
        eval_batch=128,
        eval_samples=128,
        coverage_samples=128,
        steps=2,
        eval_every=2,
        device="cpu",
    )
    row = list(Trainer(config).run())[-1].rows[0]
    assert row["n_modes"] == 10 and all(row[k] == row[k] for k in ("js_binned", "js_probe"))


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist files")
def test_fashion_mnist_classifier_accuracy(tmp_path):
    """Fashion-MNIST's held-out accuracy (86.5% measured; pixel MLPs reach 85-89%)."""
    import shutil

    # Only the IDX files (not a classifier stored beside them): this trains it (minutes).
    shutil.copytree(FASHION, tmp_path / "f", ignore=shutil.ignore_patterns("ganstudy-*"))
    target = make_target("fashion_mnist", data_dir=str(tmp_path / "f"))
    assert target.held_out()[0].shape == (10_000, 1024)
    assert target.classifier_accuracy() >= 0.85
    x, y = target.held_out()
    which, good = target.assign_modes(x, 3.0)
    assert float((which == y).double().mean()) == target.classifier_accuracy()
    assert float(good.double().mean()) > 0.5  # 65% at QUALITY_CONFIDENCE = 0.9


def test_concurrent_trials_train_the_classifier_once(tmp_path):
    """Two processes (two trials starting together) need the classifier: one trains it
    under the lock, the other waits and loads the file."""
    import subprocess
    import sys

    folder = write_idx(tmp_path / "d")
    code = (
        "import importlib, torch; torch.set_num_threads(1)\n"
        "m = importlib.import_module('ganstudy.engine.targets.mnist')\n"
        "train = m._train\n"
        "def counted(*a):\n"
        "    print('trained', flush=True)\n"
        "    return train(*a)\n"
        "m._train = counted\n"
        f"t = m.mnist(data_dir={str(folder)!r})\n"
        "print(float(t.features(t.held_out()[0][:5]).sum()))\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0].split() for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert sum(out.count("trained") for out in outputs) == 1
    assert outputs[0][-1] == outputs[1][-1]  # the same classifier in both
    assert len(list(folder.glob("ganstudy-classifier-*.pt"))) == 1
