"""Repository-wide test hooks, for the tests and the docstring examples alike."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every pyplot figure a test or an example left open.

    pytest-xdist gives one worker many test files in turn; figures left open by earlier
    ones would add up to matplotlib's "more than 20 figures" warning, which the
    ``error:::spikedecode.*`` filter turns into a failure of whichever test comes next.
    """
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
