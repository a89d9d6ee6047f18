"""Safe, atomic saving of models and files: safetensors + JSON config, never pickle.

A model is saved as two files next to each other, ``<path>.safetensors`` (tensors only)
and ``<path>.json`` (a JSON config: class, hyperparameters, classes, history...). Both are
written to a temporary file in the same folder and renamed into place, so an interrupted
write never leaves a broken file behind.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from spikedecode.errors import (
    CorruptFileError,
    FileFormatError,
    TargetIsDirectoryError,
    TargetNotWritableError,
)

__all__ = ["atomic_path", "save_module", "load_state", "save_json", "load_json"]


#: marks spikedecode's temporary files: ``.<name>.<pid>.sdtmp.<random><suffix>``
_TMP_TAG = "sdtmp"


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (the only portable way)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing the same target
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # no permission to signal it: it exists
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove temporary files of earlier writes to ``path`` whose writer has died.

    A write killed with SIGKILL (or a power cut) cannot clean up after itself; its
    temporary file names the writer's process id, so the next write to the same target
    removes it once that process is gone. Temporaries of live writers are left alone.
    """
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.{_TMP_TAG}\.")
    removed = []
    for p in path.parent.glob(glob.escape(f".{path.name}.") + f"*.{_TMP_TAG}.*"):
        m = pattern.match(p.name)
        if m and not _pid_alive(int(m.group(1))):
            _remove(p)
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "", *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    The file (or folder) gets the permissions the process umask gives a new file
    (0644 under the usual umask 022), not the 0600 of a temporary file. Temporary files
    left by an earlier write to ``path`` that was killed are removed first.

    Parameters
    ----------
    path : str or Path
        The target.
    suffix : str, optional
        Suffix of the temporary name (some writers look at it).
    directory : bool, default=False
        The writer replaces the temporary file by a folder (zarr). Otherwise an existing
        folder at ``path`` is refused rather than replaced.

    Raises
    ------
    TargetIsDirectoryError
        ``path`` is an existing folder and ``directory`` is False.
    TargetNotWritableError
        ``path``'s folder cannot be created (a file of that name, ``/proc``, a read-only
        disk) or written to.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text()
    'hello'
    """
    path = Path(path)
    if path.is_dir() and not directory:
        raise TargetIsDirectoryError(
            f"cannot write the file {str(path)!r}: a folder of that name exists. Choose "
            "another file name, or remove the folder first."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}.{_TMP_TAG}.", suffix=suffix or ".tmp",
            dir=path.parent,
        )
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise TargetNotWritableError(
            f"cannot write the file {str(path)!r}: its folder {str(path.parent)!r} cannot "
            f"be created or written to ({reason}). Choose a folder you can write to."
        ) from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        mask = _umask()
        if tmp_path.is_dir():
            os.chmod(tmp_path, 0o777 & ~mask)
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                if old.exists():
                    _remove(old)
                path.rename(old)
                tmp_path.rename(path)
                _remove(old)
            else:
                tmp_path.rename(path)
        else:
            os.chmod(tmp_path, 0o666 & ~mask)  # mkstemp made it 0600
            os.replace(tmp_path, path)
    except BaseException:
        if tmp_path.exists():
            _remove(tmp_path)
        raise


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def save_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as pretty JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_default))
    return path


def load_json(path: str | Path) -> Any:
    """Read a JSON file, raising :class:`CorruptFileError` on bad content."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path} does not exist.")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{path} is not valid JSON ({err}); re-save the model.") from err


def save_module(module: Any, path: str | Path, config: dict[str, Any] | None = None) -> Path:
    """Save a module's ``state_dict`` as safetensors and ``config`` as JSON.

    Parameters
    ----------
    module : torch.nn.Module or dict of tensors
    path : path without suffix; writes ``path.safetensors`` and ``path.json``.
    config : dict, optional
        JSON-able configuration stored beside the weights.

    Returns
    -------
    Path
        ``path`` without suffix.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    state = module if isinstance(module, dict) else module.state_dict()
    # safetensors refuses shared/non-contiguous storage: store independent copies
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    with atomic_path(path.with_name(path.name + ".safetensors")) as tmp:
        save_file(tensors, str(tmp))
    save_json(config or {}, path.with_name(path.name + ".json"))
    return path


def load_state(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load ``(state_dict, config)`` saved by :func:`save_module` (no pickle involved)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    weights = path.with_name(path.name + ".safetensors")
    if not weights.exists():
        raise FileFormatError(f"{weights} does not exist; save the model with .save() first.")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CorruptFileError(f"{weights} is not a valid safetensors file ({err}).") from err
    return state, load_json(path.with_name(path.name + ".json"))
