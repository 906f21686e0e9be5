"""The `mnist`, `fashion_mnist` and `stacked_mnist` targets, read from local files.

The images come from `data_dir` (targets/files.py: the four IDX files, gzipped or not, or
one `.npz`); nothing is downloaded. Each 28x28 image is zero-padded (black, pixel 0) to
32x32, so that model=dcgan has 4·2^3 pixels, and scaled to [-1, 1]: shape (1, 32, 32), flat
(1024,). `stacked_mnist` is Metz et al. (2017)'s Stacked MNIST: three independently drawn
MNIST digits as the channels, (3, 32, 32), 1,000 modes (targets/images.py). The test split
(10,000 images) is held out for measurement only; G learns the training split (60,000).

The classifier (modes, quality, features) is a small MLP on the padded pixels,
1024 -> 256 -> 64 -> 10 with ReLU (CLASSIFIER_*), trained with Adam on the training split,
its initial weights and batch order drawn from a generator seeded CLASSIFIER_SEED, so it is
deterministic on one machine. Its features are the 64 units of the penultimate layer.
Training (2,345 Adam steps of batch 128) on Fashion-MNIST took about a minute with one
torch thread and 9.5 minutes with two (threads waiting on each other on a 2-core machine
shared with other jobs), giving bit-identical weights both ways; it is done once per
dataset and stored in a file named by a hash of the training images, labels and the
recipe (`ganstudy-classifier-<hash>.pt`), in `data_dir`'s folder when that is writable, else in
$GANSTUDY_CACHE or ~/.cache/ganstudy (targets/files.cache_folder). The first trial of a
study trains it while the others wait on a lock file beside it, then every trial loads it:
once per study, not per trial. On a cluster, `data_dir` must be a path every node sees (a
shared file system), and so must the classifier's folder, or each node trains its own (the
same weights, by the fixed seed, up to floating-point differences between machines).

Held-out accuracy (stored in the classifier file, `classifier_accuracy`): Fashion-MNIST
86.5% (Debian's dataset-fashion-mnist files, measured once; tests/engine/test_targets_mnist.py
checks >= 85% where those files are installed); MNIST is not on the development machine,
so its accuracy (the issue asks >= 98%; pixel MLPs of this size usually reach about 98%)
has not been measured.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganstudy.config import ConfigError
from ganstudy.engine.targets import files
from ganstudy.engine.targets.images import ImageTarget, pixels

SIDE = 32  # padded: 2 black pixels on each side of MNIST's 28
# High quality: the classifier is at least this sure on every channel (65% of held-out
# Fashion-MNIST images are; 0.8: 74%, 0.5: 95%).
QUALITY_CONFIDENCE = 0.9
CLASSIFIER_HIDDEN = (256, 64)  # hidden widths; the last is the feature dimension
CLASSIFIER_BATCH = 128
CLASSIFIER_EPOCHS = 5  # passes over the training split ...
CLASSIFIER_MIN_STEPS = 300  # ... but at least this many Adam steps (tiny test sets)
CLASSIFIER_LR = 1e-3
CLASSIFIER_SEED = 0
CLASSIFIER_VERSION = 1  # part of the cache key: change it whenever the recipe changes


@lru_cache(maxsize=4)
def _data(data_dir: str, dataset: str) -> dict[str, Any]:
    """Both splits padded to 32x32, uint8 (n, 1024) and long labels (n,) on the CPU, and
    the digest of the training split that names the classifier file; once per process."""
    arrays = files.load(data_dir, dataset)
    out: dict[str, Any] = {}
    for split in ("train", "test"):
        x = arrays[f"{split}_x"]
        padded = np.zeros((len(x), SIDE, SIDE), dtype=np.uint8)  # 0 = black = -1 once scaled
        margin = (SIDE - files.SIDE) // 2
        padded[:, margin : margin + files.SIDE, margin : margin + files.SIDE] = x
        out[f"{split}_x"] = torch.from_numpy(padded.reshape(len(x), SIDE * SIDE))
        out[f"{split}_y"] = torch.from_numpy(arrays[f"{split}_y"])
    recipe = (CLASSIFIER_VERSION, CLASSIFIER_HIDDEN, CLASSIFIER_BATCH, CLASSIFIER_EPOCHS)
    recipe += (CLASSIFIER_MIN_STEPS, CLASSIFIER_LR, CLASSIFIER_SEED)
    digest = hashlib.sha256(repr(recipe).encode())
    digest.update(out["train_x"].numpy().tobytes())
    digest.update(out["train_y"].numpy().tobytes())
    out["digest"] = digest.hexdigest()[:16]
    return out


def _forward(weights: list[torch.Tensor], images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(logits (..., 10), features (..., 64)) of images (..., 1024) in [-1, 1]."""
    h = images
    for i in range(0, len(weights) - 2, 2):
        h = F.relu(h @ weights[i] + weights[i + 1])  # (..., width)
    return h @ weights[-2] + weights[-1], h


def _train(x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The classifier's weights (w, b per layer, float32) trained on uint8 images (n, 1024)
    (with gradients on: the first use is often inside the trainer's no_grad evaluation)."""
    with torch.enable_grad():
        return _fit(x, y)


def _fit(x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(CLASSIFIER_SEED)
    weights: list[torch.Tensor] = []
    for shape in _layer_shapes(x.shape[1]):  # He initialisation; biases 0
        if len(shape) == 2:
            weights.append(torch.randn(*shape, generator=g) * math.sqrt(2.0 / shape[0]))
        else:
            weights.append(torch.zeros(shape))
    for w in weights:
        w.requires_grad_(True)
    optimizer = torch.optim.Adam(weights, lr=CLASSIFIER_LR)
    per_epoch = math.ceil(len(y) / CLASSIFIER_BATCH)
    steps = max(CLASSIFIER_EPOCHS * per_epoch, CLASSIFIER_MIN_STEPS)
    order = torch.empty(0, dtype=torch.long)
    for step in range(steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(y), generator=g)  # a fresh batch order each epoch
        index = order[(step % per_epoch) * CLASSIFIER_BATCH :][:CLASSIFIER_BATCH]
        logits, _ = _forward(weights, pixels(x[index]).float())  # (B, 10)
        loss = F.cross_entropy(logits, y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return [w.detach() for w in weights]


def _accuracy(weights: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        logits, _ = _forward(weights, pixels(x).float())
    return float((logits.argmax(-1) == y).double().mean())


@lru_cache(maxsize=4)
def _classifier(data_dir: str, dataset: str) -> dict[str, Any]:
    """{"weights", "accuracy" (held out), "path"}: loaded from the cache file, or trained
    (under a lock, so concurrent trials train it once) and stored there."""
    data = _data(data_dir, dataset)
    folder = files.cache_folder(data_dir)
    path = folder / f"ganstudy-classifier-{data['digest']}.pt"
    stored = _load(path, data["digest"])
    if stored is None:
        import fcntl  # POSIX only: imported where needed, so `import ganstudy` works anywhere

        folder.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another trial may be training it: wait
            stored = _load(path, data["digest"])
            if stored is None:
                weights = _train(data["train_x"], data["train_y"])
                accuracy = _accuracy(weights, data["test_x"], data["test_y"])
                stored = {"digest": data["digest"], "weights": weights, "accuracy": accuracy}
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                torch.save(stored, tmp)
                tmp.replace(path)  # atomic: a reader sees the whole file or none
    return stored | {"path": path}


def _load(path: Path, digest: str) -> dict[str, Any] | None:
    """The stored classifier at `path` if it is whole and for these data, else None: the
    caller then trains it again. Only ever read with weights_only=True: a damaged file (cut
    short, overwritten, another program's) is retrained, never unpickled unsafely."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch on the "pickle protocol" of random bytes
            stored = torch.load(path, weights_only=True, map_location="cpu")
    except Exception:  # missing or damaged: OSError, EOFError, UnpicklingError, KeyError, ...
        return None
    return stored if _is_classifier(stored, digest) else None


def _layer_shapes(inputs: int) -> list[tuple[int, ...]]:
    """The shapes of the classifier's weights (w, b per layer) for `inputs` pixels."""
    sizes = (inputs, *CLASSIFIER_HIDDEN, 10)
    return [
        shape
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
        for shape in ((fan_in, fan_out), (fan_out,))
    ]


def _is_classifier(stored: object, digest: str) -> bool:
    """Whether a loaded cache file holds what `_classifier` stores, for these data."""
    if not isinstance(stored, dict) or stored.get("digest") != digest:
        return False
    weights, accuracy = stored.get("weights"), stored.get("accuracy")
    return (
        isinstance(weights, list)
        and all(isinstance(w, torch.Tensor) for w in weights)
        and [tuple(w.shape) for w in weights] == _layer_shapes(SIDE * SIDE)
        and isinstance(accuracy, float)
        and 0.0 <= accuracy <= 1.0
    )


class Mnist(ImageTarget):
    """An MNIST-format dataset from `data_dir` (see the module docstring)."""

    quality_confidence = QUALITY_CONFIDENCE

    def __init__(self, name: str, dataset: str, stack: int, data_dir: str | None) -> None:
        super().__init__(side=SIDE, stack=stack)
        self.name, self.dataset, self.data_dir = name, dataset, data_dir
        self._weights: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}

    def _folder(self) -> str:
        if self.data_dir is None:
            raise ConfigError(
                "data_dir",
                f"target {self.name} reads its images from local files; set data_dir to "
                f"a folder holding {files.SOURCES[self.dataset]}",
            )
        return self.data_dir

    def _split(self) -> dict[str, torch.Tensor]:
        return _data(self._folder(), self.dataset)

    def classifier_accuracy(self) -> float:
        """The classifier's accuracy on the held-out split (measured when it was trained)."""
        return float(_classifier(self._folder(), self.dataset)["accuracy"])

    def _classify(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (images.device, images.dtype)
        if key not in self._weights:  # one copy per device and dtype, not one per call
            stored = _classifier(self._folder(), self.dataset)["weights"]
            self._weights[key] = [w.to(images.device, images.dtype) for w in stored]
        return _forward(self._weights[key], images)


def _factory(name: str, dataset: str, stack: int):
    def make(
        scale: float | None = None, std: float | None = None, data_dir: str | None = None
    ) -> Mnist:
        if scale is not None or std is not None:
            raise ValueError(f"target_scale / target_std do not apply to the {name} target")
        return Mnist(name, dataset, stack, data_dir)

    make.__doc__ = f"The {name} target from data_dir (see targets/mnist.py)."
    return make


mnist = _factory("mnist", "mnist", 1)
fashion_mnist = _factory("fashion_mnist", "fashion_mnist", 1)
stacked_mnist = _factory("stacked_mnist", "mnist", 3)
