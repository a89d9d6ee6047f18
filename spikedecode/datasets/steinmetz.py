"""Reader for the Steinmetz et al. (2019) teaching-subset sessions (``session*.npz``).

A thin wrapper around :func:`spikedecode.preprocess.from_counts`: each file holds
``spks`` (trial x neuron x 40 bins of 10 ms after stimulus onset), ``contrast_left``,
``contrast_right``, ``feedback_type`` per trial, ``brain_area`` per neuron,
``mouse_name`` and ``date_exp``. The probe was inserted fresh every session: unit ids
are ``f"{session}:{i}"`` so that no two sessions share a unit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spikedecode.errors import FileFormatError, FileMissingError

__all__ = ["read_steinmetz_npz", "STEINMETZ_BIN_SIZE"]

#: width of one bin of ``spks`` (s)
STEINMETZ_BIN_SIZE = 0.01


def read_steinmetz_npz(path: str | os.PathLike[str], *, per: str = "trial",
                       pool: int | None = None, smooth: float | None = None,
                       session: str | None = None,
                       drop_equal: bool = False) -> xr.DataArray:
    """Read one ``session*.npz`` file as labelled Windows.

    Parameters
    ----------
    path : path-like
        A ``session<N>.npz`` file.
    per, pool, smooth
        Sample layout and Gaussian smoothing (sd in s) of the counts, passed to :func:`~spikedecode.preprocess.from_counts`.
    session : str, optional
        Session name (default: the file's stem, e.g. ``"session1"``).
    drop_equal : bool, default=False
        Drop trials where both contrasts are equal (the label ``"equal"``).

    Returns
    -------
    xarray.DataArray
        Windows whose ``label`` is ``"left"`` (contrast_left > contrast_right),
        ``"right"`` (<) or ``"equal"``; per-sample coords ``contrast_left``,
        ``contrast_right``, ``feedback_type``; per-unit coord ``brain_area``; attrs
        ``mouse_name``, ``date_exp``, ``source``.

    Raises
    ------
    FileMissingError, FileFormatError

    Examples
    --------
    >>> import os, pytest
    >>> from spikedecode.datasets._shared import shared_data_root
    >>> root = shared_data_root()  # $SPIKEDECODE_SHARED_DATA, else ../shared/data
    >>> if root is None or not os.path.exists(f"{root}/steinmetz/session1.npz"):
    ...     pytest.skip("shared data absent")
    >>> w = read_steinmetz_npz(f"{root}/steinmetz/session1.npz", drop_equal=True)
    >>> w.dims, w.attrs["mouse_name"], sorted(set(w["label"].values.tolist()))
    (('sample', 'lag', 'unit'), 'Cori', ['left', 'right'])
    """
    from spikedecode.preprocess.counts import from_counts

    p = Path(path)
    if not p.is_file():
        raise FileMissingError(f"no Steinmetz session file at {str(p)!r}.")
    try:
        with np.load(p, allow_pickle=False) as f:
            data: dict[str, Any] = {k: f[k] for k in f.files}
    except Exception as err:
        raise FileFormatError(f"{str(p)!r} is not a readable npz file: {err}") from err
    need = ("spks", "contrast_left", "contrast_right")
    missing = [k for k in need if k not in data]
    if missing:
        raise FileFormatError(
            f"{str(p)!r} lacks {missing}; expected a Steinmetz teaching-subset session with "
            f"{list(need)}."
        )
    cl = np.asarray(data["contrast_left"], float)
    cr = np.asarray(data["contrast_right"], float)
    label = np.where(cl > cr, "left", np.where(cl < cr, "right", "equal"))
    pair = np.array([f"{a:g}/{b:g}" for a, b in zip(cl, cr)])
    coords = {"contrast_left": cl, "contrast_right": cr, "contrast_pair": pair}
    if "feedback_type" in data:
        coords["feedback_type"] = np.asarray(data["feedback_type"], float)
    name = session if session is not None else p.stem
    keep = np.flatnonzero(label != "equal") if drop_equal else np.arange(len(label))
    w = from_counts(data["spks"][keep], label[keep], bin_size=STEINMETZ_BIN_SIZE, session=name,
                    trials=keep, coords={k: v[keep] for k, v in coords.items()}, per=per,
                    pool=pool, smooth=smooth)
    if "brain_area" in data:
        w = w.assign_coords(brain_area=("unit", np.asarray(data["brain_area"]).astype(str)))
    for key in ("mouse_name", "date_exp"):
        if key in data:
            w.attrs[key] = str(np.asarray(data[key]).item())
    w.attrs["source"] = p.name
    return w
