"""Where the shared real-data folder is (``../shared/data`` in the README), one place."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shared_data_root"]


def shared_data_root() -> Path | None:
    """The shared real-data folder, or None when there is none.

    ``$SPIKEDECODE_SHARED_DATA`` when set; else ``../shared/data`` next to the repository
    of this source tree, else ``../shared/data`` from the working directory (the README's
    layout: a clone beside a ``shared/data`` folder).

    Examples
    --------
    >>> root = shared_data_root()
    >>> root is None or root.is_dir()
    True
    """
    env = os.environ.get("SPIKEDECODE_SHARED_DATA")
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        p = base.parent / "shared" / "data"
        if p.is_dir():
            return p
    return None
