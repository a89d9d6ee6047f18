"""Hypothesis strategies for Recordings (every unit has at least one spike)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import spikedecode

UNIT_ID = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-#/ ",
    min_size=1,
    max_size=8,
).filter(lambda s: s.strip() == s)
LABEL = st.sampled_from(["touch/LUM", "touch/LBR", "airpuff", "latent", "a b", "ü/ß"])


@st.composite
def recordings(draw, max_units: int = 5, max_spikes: int = 30, max_epochs: int = 4):
    """A valid Recording with awkward but legal values (edge times, float noise)."""
    t_start = draw(st.sampled_from([0.0, -1.5, 0.25, 1e3]))
    duration = draw(st.sampled_from([1.0, 0.3, 17.125, 3600.0]))
    t_stop = t_start + duration
    units = draw(st.lists(UNIT_ID, min_size=1, max_size=max_units, unique=True))
    time = st.floats(t_start, t_stop, exclude_max=True, allow_nan=False, allow_subnormal=False)
    trains = {}
    for u in units:
        ts = draw(st.lists(time, min_size=1, max_size=max_spikes, unique=True))
        trains[u] = np.sort(np.asarray(ts, dtype=np.float64))
    n_ep = draw(st.integers(0, max_epochs))
    rows = []
    for _ in range(n_ep):
        a = draw(st.floats(t_start, t_stop, allow_nan=False, allow_subnormal=False))
        b = draw(st.floats(a, t_stop, allow_nan=False, allow_subnormal=False))
        rows.append((a, b, draw(LABEL)))
    rows.sort(key=lambda r: r[0])
    day = draw(st.one_of(st.integers(0, 400), st.sampled_from(["2024-01-03", "d7"])))
    return spikedecode.from_spiketrains(
        trains,
        t_start=t_start,
        t_stop=t_stop,
        epochs=rows or None,
        session=draw(st.sampled_from(["", "s1", "rat 3 / day 2"])),
        subject=draw(st.sampled_from(["", "M12"])),
        day=day,
    )
