"""spikedecode: decode stimuli from spike recordings, compare days, and test robustness."""

from __future__ import annotations

from spikedecode.errors import SpikeDecodeError, SpikeDecodeWarning
from spikedecode.recording import (
    from_neo,
    from_spiketrains,
    make_recording,
    to_neo,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "SpikeDecodeError",
    "SpikeDecodeWarning",
    "make_recording",
    "from_spiketrains",
    "from_neo",
    "to_neo",
]
