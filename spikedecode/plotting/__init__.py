"""Figures. One module per family; every function returns a ``matplotlib.figure.Figure``.

matplotlib is imported only when a plotting function is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikedecode.serialization import atomic_path


def save_figure(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` atomically, then close it.

    The image appears under ``path`` only once it is complete (a killed run leaves the
    old file, not half a PNG), and the figure is released from pyplot so that a loop or a
    long session that saves many figures does not keep them all open.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, as returned by any function of :mod:`spikedecode.plotting`.
    path : str or Path
        The target; its suffix (``.png``, ``.pdf``, ``.svg``) picks the format.
    dpi : int, default=120
        Resolution of raster formats.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    SpikeDecodeValueError
        ``path``'s suffix is not an image format matplotlib writes.
    TargetNotWritableError
        ``path``'s folder cannot be created or written to.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> p = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "f.png")
    >>> p.stat().st_size > 0, plt.fignum_exists(fig.number)
    (True, False)
    """
    from spikedecode._optional import pyplot
    from spikedecode.errors import SpikeDecodeValueError

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    supported = sorted(fig.canvas.get_supported_filetypes())
    if fmt not in supported:
        raise SpikeDecodeValueError(
            f"path == {str(path)!r}: its suffix {path.suffix or '(none)'!r} names no image "
            f"format matplotlib writes; end it with one of "
            f"{', '.join('.' + s for s in supported)}."
        )
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)
    pyplot().close(fig)
    return path


__all__ = ["save_figure"]
