"""Tiny synthetic MNIST-format files for the tests (IDX, gzipped or plain)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import yaml

from ganstudy.config import DATA_TARGETS
from ganstudy.engine.targets.files import IDX_FILES


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 images, class c a bright 8x4 bar at its own place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        row, col = 2 + (c // 5) * 12, 2 + (c % 5) * 5
        images[i, row : row + 8, col : col + 4] = rng.integers(180, 256, size=(8, 4))
    return images, labels


def idx_bytes(array: np.ndarray) -> bytes:
    return (
        bytes([0, 0, 8, array.ndim])
        + struct.pack(f">{array.ndim}i", *array.shape)
        + (array.astype(np.uint8).tobytes())
    )


def write_idx(folder: Path, gz: bool | list[bool] = True, n_train: int = 200) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (train_x, train_y), (test_x, test_y) = synthetic(n_train, 0), synthetic(100, 1)
    arrays = {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}
    zipped = gz if isinstance(gz, list) else [gz] * 4
    for (split, name), z in zip(IDX_FILES.items(), zipped, strict=True):
        raw = idx_bytes(arrays[split])
        (folder / (name + ".gz" if z else name)).write_bytes(gzip.compress(raw) if z else raw)
    return folder


def shipped_copy(path: Path, folder: Path) -> Path:
    """The study file at `path`; for a file target (whose data_dir is a placeholder its user
    sets, e.g. studies/mnist.yaml's: there is no MNIST on the test machine) a copy in
    `folder` whose data_dir holds synthetic IDX files."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data.get("target") not in DATA_TARGETS:
        return path
    data["params"]["data_dir"] = str(write_idx(folder / "mnist"))
    copy = folder / path.name
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return copy
