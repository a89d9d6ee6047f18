"""Exceptions and warnings raised by spikedecode.

Every error subclasses :class:`SpikeDecodeError` *and* the builtin it is (a wrong
value is a ``ValueError``, a wrong type a ``TypeError``), so callers can catch either.
Messages name the field, show what came in, and say how to fix it.
"""

from __future__ import annotations

__all__ = [
    "SpikeDecodeError",
    "SpikeDecodeTypeError",
    "SpikeDecodeValueError",
    "RecordingError",
    "SchemaError",
    "ConfigError",
    "FileFormatError",
    "CorruptFileError",
    "LabelError",
    "NotEnoughDataError",
    "AttackError",
    "FileMissingError",
    "TargetIsDirectoryError",
    "TargetNotWritableError",
    "SpikeDecodeWarning",
    "DataDroppedWarning",
    "SkippedFileWarning",
    "GradientMaskingWarning",
    "GridEdgeWarning",
]


class SpikeDecodeError(Exception):
    """Base class of every error spikedecode raises on purpose.

    Examples
    --------
    >>> import spikedecode
    >>> try:
    ...     spikedecode.make_decoder("forest")
    ... except spikedecode.SpikeDecodeError as err:
    ...     print(type(err).__name__)
    ConfigError
    """


class SpikeDecodeTypeError(SpikeDecodeError, TypeError):
    """An argument has the wrong type."""


class SpikeDecodeValueError(SpikeDecodeError, ValueError):
    """An argument has the wrong value or shape."""


class RecordingError(SpikeDecodeValueError):
    """Spike times, units or epochs that cannot form a valid Recording."""


class SchemaError(SpikeDecodeValueError):
    """A Dataset or DataArray that breaks the data model of DESIGN.md §2."""


class ConfigError(SpikeDecodeValueError):
    """An invalid experiment or command configuration."""


class FileFormatError(SpikeDecodeValueError):
    """A file whose type is unknown or that no reader understands."""


class CorruptFileError(FileFormatError):
    """A file of a known type that is truncated or damaged."""


class LabelError(SpikeDecodeValueError):
    """Labels that are missing, inconsistent, or leave too few samples."""


class NotEnoughDataError(SpikeDecodeValueError):
    """Too few samples, trials or classes for the requested analysis."""


class AttackError(ConfigError):
    """An attack configured with an invalid budget, domain or target."""


class FileMissingError(SpikeDecodeError, FileNotFoundError):
    """A path given to a reader that does not exist (also a ``FileNotFoundError``)."""


class TargetIsDirectoryError(SpikeDecodeError, IsADirectoryError):
    """A file was to be written where a folder is (also an ``IsADirectoryError``)."""


class TargetNotWritableError(SpikeDecodeError, OSError):
    """A file's folder cannot be created or written to (also an ``OSError``)."""


class SpikeDecodeWarning(UserWarning):
    """Base class of spikedecode's warnings.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", SpikeDecodeWarning)  # turn them into errors
    ...     warnings.warn("spikes dropped", DataDroppedWarning)
    Traceback (most recent call last):
    ...
    spikedecode.errors.DataDroppedWarning: spikes dropped
    """


class DataDroppedWarning(SpikeDecodeWarning):
    """Data were dropped or changed (spikes outside the recording, unlabelled windows...)."""


class SkippedFileWarning(SpikeDecodeWarning):
    """A file was skipped (e.g. by ``read_many``) because it could not be read."""


class GridEdgeWarning(SpikeDecodeWarning):
    """A hyper-parameter search picked a value on the edge of its grid (widen the grid)."""


class GradientMaskingWarning(SpikeDecodeWarning):
    """An attack evaluation shows signs of gradient masking."""
