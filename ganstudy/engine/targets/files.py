"""Reading MNIST-format image sets from local files (`data_dir`): IDX or one `.npz`.

Nothing is downloaded. `data_dir` is either
- a folder holding the four standard IDX files, each gzipped or not:
  `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
  `t10k-labels-idx1-ubyte` (with or without `.gz`), as the MNIST and Fashion-MNIST sites
  (and Debian's dataset-fashion-mnist package, in /usr/share/datasets/fashion-mnist) ship
  them; or
- an `.npz` file, or a folder holding exactly one, with arrays `x_train` (n, 28, 28) uint8,
  `y_train` (n,), `x_test`, `y_test` (Keras' `mnist.npz`).

IDX is parsed with numpy: two zero bytes, the type code 0x08 (unsigned byte), the number of
dimensions, then each dimension as a big-endian int32, then the data. Any problem (a file
missing, a bad magic number, a size that does not match its header, labels outside 0..9,
images not 28x28) raises `ConfigError("data_dir", ...)`: one line naming the path and where
such files come from, which the command line turns into exit status 2.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ganstudy.config import ConfigError

IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = {"train_x": "x_train", "train_y": "y_train", "test_x": "x_test", "test_y": "y_test"}
SIDE = 28  # MNIST's images; padded to 32x32 for model=dcgan (targets/mnist.py)
# Where each dataset's files come from, for the error messages.
SOURCES = {
    "mnist": "the four IDX files from the MNIST site (yann.lecun.com/exdb/mnist), or Keras' "
    "mnist.npz",
    "fashion_mnist": "the four IDX files from github.com/zalandoresearch/fashion-mnist (Debian: "
    "package dataset-fashion-mnist, /usr/share/datasets/fashion-mnist), or an .npz with "
    "x_train, y_train, x_test, y_test",
}
_IDX_UBYTE = 0x08


def _error(path: Path | str, problem: str, dataset: str) -> ConfigError:
    return ConfigError("data_dir", f"{path}: {problem}; {dataset} needs {SOURCES[dataset]}")


def locate(data_dir: str, dataset: str) -> dict[str, Path] | Path:
    """The four IDX paths (split name -> path) in `data_dir`, or the path of its `.npz`."""
    path = Path(data_dir).expanduser()
    if path.is_file() and path.suffix == ".npz":
        return path
    if not path.is_dir():
        raise _error(path, "no such folder or .npz file", dataset)
    found: dict[str, Path] = {}
    for split, name in IDX_FILES.items():
        for candidate in (path / name, path / f"{name}.gz"):
            if candidate.is_file():
                found[split] = candidate
                break
    if len(found) == len(IDX_FILES):
        return found
    npz = sorted(p for p in path.glob("*.npz") if p.is_file())
    if not found and len(npz) == 1:
        return npz[0]
    if found:  # some IDX files but not all: name the first missing one
        missing = next(name for split, name in IDX_FILES.items() if split not in found)
        raise _error(path / missing, "missing (nor its .gz)", dataset)
    what = f"{len(npz)} .npz files (need exactly one)" if npz else "no IDX or .npz files"
    raise _error(path, what, dataset)


def read_idx(path: Path, dataset: str) -> np.ndarray:
    """The array an IDX file holds (uint8, its header's shape); gzip is detected by its
    magic bytes, not the name."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise _error(path, f"cannot be read ({error})", dataset) from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != _IDX_UBYTE or not 1 <= raw[3] <= 4:
        raise _error(path, "not an IDX file of unsigned bytes (bad magic number)", dataset)
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _error(path, "IDX header cut short", dataset)
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(dims)):
        raise _error(
            path, f"holds {len(raw) - header} bytes of data, its header says {dims}", dataset
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load(data_dir: str, dataset: str) -> dict[str, np.ndarray]:
    """train_x, test_x (n, 28, 28) uint8 and train_y, test_y (n,) int64 from `data_dir`,
    checked (shapes, counts, labels 0..9)."""
    where = locate(data_dir, dataset)
    if isinstance(where, Path):
        arrays = _read_npz(where, dataset)
        names = dict.fromkeys(NPZ_KEYS, where)
    else:
        arrays = {split: read_idx(path, dataset) for split, path in where.items()}
        names = where
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE) or x.dtype != np.uint8:
            raise _error(
                names[f"{split}_x"],
                f"images are {x.dtype} {x.shape}, expected uint8 (n, {SIDE}, {SIDE})",
                dataset,
            )
        if y.ndim != 1 or len(y) != len(x) or len(y) == 0:
            raise _error(names[f"{split}_y"], f"{y.shape} labels for {len(x)} images", dataset)
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            raise _error(names[f"{split}_y"], "labels outside 0..9", dataset)
        arrays[f"{split}_y"] = y.astype(np.int64)
    return arrays


def _read_npz(path: Path, dataset: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in NPZ_KEYS.values() if key not in npz.files]
            if missing:
                raise _error(path, f"has no {', '.join(missing)}", dataset)
            return {split: np.asarray(npz[key]) for split, key in NPZ_KEYS.items()}
    except (OSError, ValueError, EOFError, zlib.error) as error:
        if isinstance(error, ConfigError):
            raise
        raise _error(path, f"not a readable .npz ({type(error).__name__})", dataset) from None


def cache_folder(data_dir: str) -> Path:
    """Where a classifier trained on `data_dir`'s images is stored: the data's own folder
    when it is writable (every node that sees the data sees the classifier), else
    $GANSTUDY_CACHE or ~/.cache/ganstudy."""
    path = Path(data_dir).expanduser()
    folder = path.parent if path.is_file() else path
    if os.access(folder, os.W_OK):
        return folder
    fallback = os.environ.get("GANSTUDY_CACHE") or Path.home() / ".cache" / "ganstudy"
    return Path(fallback)
