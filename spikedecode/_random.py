"""One place for randomness: numpy RandomState/Generator and torch seeding."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Hashable, Iterator

import numpy as np
from sklearn.utils import check_random_state

RandomStateLike = int | np.random.RandomState | np.random.Generator | None

__all__ = ["RandomStateLike", "check_generator", "draw_seed", "torch_generator", "torch_seeded"]


def check_generator(random_state: RandomStateLike) -> np.random.Generator:
    """Turn ``random_state`` (int, RandomState, Generator or None) into a Generator.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None
        Seed or generator. ``None`` draws fresh entropy.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> g = check_generator(0)
    >>> float(g.random()) == float(check_generator(0).random())
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    from spikedecode.errors import SpikeDecodeTypeError

    raise SpikeDecodeTypeError(
        f"random_state must be an int, a numpy Generator/RandomState or None; got "
        f"{type(random_state).__name__}."
    )


def draw_seed(random_state: RandomStateLike) -> int:
    """Draw one integer seed in [0, 2**31 - 1) from ``random_state``.

    Follows scikit-learn: ``check_random_state(random_state).randint(2**31 - 1)``,
    except that a Generator is also accepted.

    Examples
    --------
    >>> draw_seed(0) == draw_seed(0)
    True
    """
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return int(check_random_state(random_state).randint(2**31 - 1))


def day_seed(seed: int, day: Hashable) -> int:
    """Seed of one day, from an estimator's seed and the day's key only.

    Adapting days in another order, or adapting only some of them, gives every day the
    same seed (the aligners' per-day fits depend on nothing else).

    Examples
    --------
    >>> day_seed(0, "d1") == day_seed(0, "d1") != day_seed(0, "d2")
    True
    """
    return (int(seed) + zlib.crc32(str(day).encode())) % (2**31 - 1)


def torch_generator(seed: int, device: str = "cpu"):
    """A ``torch.Generator`` seeded with ``seed`` (for DataLoaders, randperm, random starts)."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


@contextlib.contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG inside the block and restore the caller's RNG after.

    Used around model construction and training so that weights initialisation and
    dropout are reproducible while the caller's RNG is left untouched.
    """
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield
