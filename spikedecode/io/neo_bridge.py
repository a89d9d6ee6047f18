"""The bridge to neo: any format ``neo.io`` reads becomes a Recording, and back.

neo's own format detection (:func:`neo.io.list_candidate_ios`) proposes IO classes from
the file suffix (or the files inside a folder); each candidate is tried in turn. Two are
never used: ``PickleIO`` (loading a pickle can run arbitrary code) and ``NWBIO`` (neo
0.14's NWB reader fails on real files; :mod:`spikedecode.io.nwb` reads NWB through
pynwb instead).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import xarray as xr

from spikedecode.errors import CorruptFileError, FileFormatError, SpikeDecodeError

__all__ = ["read_neo", "write_neo", "neo_candidates", "BANNED_IOS"]

#: neo IO classes spikedecode never uses, with the reason
BANNED_IOS = {
    "PickleIO": "loading a pickle can run arbitrary code",
    "NWBIO": "neo's NWB reader fails on real files; spikedecode reads NWB with pynwb",
    "ExampleIO": "it generates fake data",
}


def neo_candidates(path: str | Path) -> list[type]:
    """neo IO classes that may read ``path`` (neo's suffix detection, minus banned ones).

    Examples
    --------
    >>> [c.__name__ for c in neo_candidates("spikes.nix")]
    ['NixIO', 'NixIO']
    """
    import neo.io

    try:
        found = neo.io.list_candidate_ios(str(path))
    except (ValueError, OSError):
        return []
    return [c for c in found if c.__name__ not in BANNED_IOS]


def _resolve_io(io: Any) -> list[type]:
    import neo.io

    if isinstance(io, str):
        hits = [c for c in neo.io.iolist if c.__name__ == io]
        if not hits:
            raise FileFormatError(
                f"io == {io!r} is not a neo IO class; choose one of "
                f"{sorted({c.__name__ for c in neo.io.iolist} - set(BANNED_IOS))}."
            )
        io = hits[0]
    if not isinstance(io, type):
        raise FileFormatError(f"io must be a neo IO class or its name; got {io!r}.")
    if io.__name__ in BANNED_IOS:
        raise FileFormatError(f"io == {io.__name__!r} is refused: {BANNED_IOS[io.__name__]}.")
    return [io]


def _open(cls: type, path: Path) -> Any:
    import inspect

    params = inspect.signature(cls).parameters  # the constructor's parameters
    if "mode" in params and cls.__name__ == "NixIO":
        return cls(str(path), mode="ro")
    if "dirname" in params and path.is_dir():
        return cls(dirname=str(path))
    return cls(str(path))


def read_block(path: str | Path, *, io: Any = None, block_index: int = 0) -> Any:
    """Read one ``neo.Block`` from ``path`` with the first neo IO that succeeds.

    Raises
    ------
    FileFormatError
        No neo IO knows the suffix, or the requested IO is refused.
    CorruptFileError
        Every candidate IO failed on the file.
    """
    path = Path(path)
    candidates = _resolve_io(io) if io is not None else neo_candidates(path)
    if not candidates:
        raise FileFormatError(
            f"unknown file type for {path}: no neo IO reads suffix {path.suffix!r}."
        )
    failures: list[str] = []
    last: BaseException | None = None
    # neo logs tracebacks of failed attempts; we report them ourselves
    neo_logger = logging.getLogger("neo")
    level = neo_logger.level
    neo_logger.setLevel(logging.CRITICAL)
    try:
        return _try_candidates(path, candidates, block_index, failures)
    except _AllFailed as err:
        last = err.__cause__
    finally:
        neo_logger.setLevel(level)
    hint = ""
    if path.suffix.lower() == ".mat":
        hint = (
            " Only neo's own .mat layout (NeoMatlabIO) is read; for another layout load it "
            "with scipy.io.loadmat and build the Recording with spikedecode.from_spiketrains."
        )
    raise CorruptFileError(
        f"neo could not read {path}: " + "; ".join(failures)[:800]
        + ". The file is damaged or not of the format its suffix says." + hint
    ) from last


class _AllFailed(Exception):
    pass


def _try_candidates(path: Path, candidates: list[type], block_index: int, failures: list[str]) -> Any:
    last: BaseException | None = None
    for cls in candidates:
        reader = None
        try:
            reader = _open(cls, path)
            blocks = reader.read(lazy=False) if hasattr(reader, "read") else [reader.read_block()]
            if not blocks:
                raise ValueError("the file holds no Block")
            if not 0 <= block_index < len(blocks):
                raise FileFormatError(
                    f"block_index == {block_index}, but {path} holds {len(blocks)} block(s)."
                )
            blk = blocks[block_index]
            if cls.__name__ == "NeoMatlabIO":
                _strip_matlab_padding(blk)
            return blk
        except SpikeDecodeError:
            raise
        except Exception as err:  # neo readers raise anything: wrap, never leak
            failures.append(f"{cls.__name__}: {type(err).__name__}: {err}")
            last = err
        finally:
            close = getattr(reader, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing a failed reader
                    pass
    raise _AllFailed() from last


def _strip_matlab_padding(blk: Any) -> None:
    """MATLAB char matrices pad shorter strings with spaces: strip them from epoch labels."""
    import numpy as np

    for seg in blk.segments:
        for ep in seg.epochs:
            labels = np.atleast_1d(np.asarray(ep.labels))
            if labels.dtype.kind == "U":
                ep.labels = np.char.rstrip(labels)


def read_neo(
    path: str | Path,
    *,
    io: Any = None,
    block_index: int = 0,
    segment: int | None = None,
    unit_key: str = "unit_id",
    **kwargs: Any,
) -> xr.Dataset:
    """Read any neo-supported file (or folder) as a Recording.

    Parameters
    ----------
    path : str or Path
    io : neo IO class or its name, optional
        Force an IO (e.g. ``"PlexonIO"``); by default neo's detection chooses.
    block_index : int, default=0
        Which Block of the file.
    segment : int, optional
        Which Segment (required when the Block has several).
    unit_key : str, default="unit_id"
        SpikeTrain annotation holding the unit id (else its name, else its position).
    **kwargs
        ``session``, ``day``, ``subject``, ``source`` for :func:`spikedecode.from_neo`.

    Returns
    -------
    xarray.Dataset
        A Recording.
    """
    from spikedecode.recording import from_neo

    blk = read_block(path, io=io, block_index=block_index)
    if "spikedecode_attrs" not in blk.annotations:  # not written by spikedecode
        kwargs.setdefault("source", str(Path(path).name))
    return from_neo(blk, segment=segment, unit_key=unit_key, **kwargs)


def write_neo(rec: xr.Dataset, path: str | Path, *, io: Any = None) -> Path:
    """Write a Recording with a writable neo IO (``NixIO`` for .nix, ``NeoMatlabIO`` for .mat).

    The file is written to a temporary name in the same folder and renamed into place.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to write.
    path : str or Path
        Destination file.
    io : neo IO class or its name, optional
        Force an IO; by default chosen from the suffix.

    Returns
    -------
    Path
        The path written.
    """
    import neo.io

    from spikedecode.io._checks import check_writable
    from spikedecode.recording import check_recording, to_neo
    from spikedecode.serialization import atomic_path

    path = Path(path)
    check_writable(check_recording(rec))
    if io is None:
        io = {".nix": neo.io.NixIO, ".mat": neo.io.NeoMatlabIO}.get(path.suffix.lower())
        if io is None:
            raise FileFormatError(
                f"no neo writer chosen for suffix {path.suffix!r}; use .nix or .mat, or pass io=."
            )
    cls = _resolve_io(io)[0]
    if cls.__name__ == "NixIO":
        from spikedecode._optional import attempt_import

        attempt_import("nixio", "to write NIX files")
    if not getattr(cls, "is_writable", False):
        raise FileFormatError(f"neo's {cls.__name__} cannot write files.")
    blk = to_neo(rec)
    with atomic_path(path, suffix=path.suffix) as tmp:
        if cls.__name__ == "NixIO":
            tmp.unlink()
            with cls(str(tmp), mode="ow") as writer:
                writer.write_block(blk)
        else:
            cls(str(tmp)).write_block(blk)
    return path
