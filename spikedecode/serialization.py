"""Safe, atomic saving of models and files: safetensors + JSON config, never pickle.

A model is saved as two files next to each other, ``<path>.safetensors`` (tensors only)
and ``<path>.json`` (a JSON config: class, hyperparameters, classes, history...). Both are
written to a temporary file in the same folder and renamed into place, so an interrupted
write never leaves a broken file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from spikedecode.errors import CorruptFileError, FileFormatError

__all__ = ["atomic_path", "save_module", "load_state", "save_json", "load_json"]


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_dir():
            if path.exists():
                import shutil

                old = path.with_name(f".{path.name}.old")
                if old.exists():
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
                path.rename(old)
                tmp_path.rename(path)
                shutil.rmtree(old) if old.is_dir() else old.unlink()
            else:
                tmp_path.rename(path)
        else:
            os.replace(tmp_path, path)
    except BaseException:
        if tmp_path.exists():
            if tmp_path.is_dir():
                import shutil

                shutil.rmtree(tmp_path, ignore_errors=True)
            else:
                tmp_path.unlink()
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
