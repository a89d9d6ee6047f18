"""from_counts: trials x units x bins counts -> labelled Windows (issue 14, item 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikedecode.errors import (
    ConfigError,
    LabelError,
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)
from spikedecode.preprocess import from_counts, to_xy
from spikedecode.schema import validate
from tests.conftest import SHARED_DATA


@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    return rng.poisson(2.0, size=(6, 5, 8)).astype(np.uint8)  # 6 trials, 5 units, 8 bins


LABELS = np.array(["l", "r", "l", "r", "l", "r"])


@pytest.mark.parametrize(("per", "pool"), [("trial", None), ("trial", 2), ("trial", 1),
                                           ("bin", None), ("bin", 4)])
def test_counts_are_conserved_per_unit_and_trial(counts, per, pool):
    w = from_counts(counts, LABELS, bin_size=0.01, session="s", per=per, pool=pool)
    validate(w, "windows")
    # sum over every sample (and lag) of one trial == that trial's counts, unit by unit
    for t in range(counts.shape[0]):
        got = w.values[w["trial"].values == t].sum(axis=(0, 1))
        np.testing.assert_array_equal(got, counts[t].sum(axis=1))
    assert w.values.sum() == counts.sum()


def test_round_trip_without_pooling(counts):
    w = from_counts(counts, LABELS, bin_size=0.01, session="s", pool=1)
    assert w.shape == (6, 8, 5)
    np.testing.assert_array_equal(w.values.transpose(0, 2, 1), counts)
    b = from_counts(counts, LABELS, bin_size=0.01, session="s", per="bin")
    np.testing.assert_array_equal(b.values[:, 0, :].reshape(6, 8, 5).transpose(0, 2, 1), counts)
    # t_rel walks the bins of every trial; bin_size of a lag is the pooled width
    np.testing.assert_allclose(b["t_rel"].values[:8], np.arange(8) * 0.01)
    p = from_counts(counts, LABELS, bin_size=0.01, session="s", per="bin", pool=4)
    assert p.attrs["bin_size"] == pytest.approx(0.04)
    np.testing.assert_allclose(np.unique(p["t_rel"].values), [0.0, 0.04])


def test_labels_trials_onsets_and_extra_coords(counts):
    w = from_counts(counts, LABELS, bin_size=0.01, session="s", trials=np.arange(10, 16),
                    onsets=np.arange(6) * 2.0, coords={"contrast": np.linspace(0, 1, 6)},
                    per="bin", pool=4)
    assert w["label"].values.tolist()[:4] == ["l", "l", "r", "r"]
    assert w["trial"].values.tolist()[:4] == [10, 10, 11, 11]
    np.testing.assert_allclose(w["time"].values[:4], [0.0, 0.04, 2.0, 2.04])
    np.testing.assert_allclose(w["contrast"].values[2:4], 0.2)
    X, y, g = to_xy(w)
    assert X.shape == (12, 5) and y[0] == "l" and g[-1] == 15


def test_default_unit_ids_never_match_across_sessions(counts):
    a = from_counts(counts, LABELS, bin_size=0.01, session="s1")
    b = from_counts(counts, LABELS, bin_size=0.01, session="s2")
    assert not set(a["unit"].values.tolist()) & set(b["unit"].values.tolist())
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import cross_day_matrix

    # without an aligner, two sessions of different neurons are refused, not matched
    with pytest.raises(NotEnoughDataError, match="share no unit"):
        cross_day_matrix({"s1": a, "s2": b}, make_decoder("logistic"), random_state=0)


def test_goes_straight_into_cross_day_matrix_with_an_aligner():
    from spikedecode.align import get_aligner
    from spikedecode.datasets import simulate_trial_counts
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import cross_day_matrix

    sim = simulate_trial_counts(n_days=2, n_trials=(80, 80), n_units=(60, 80), frac_task=0.5,
                                frac_nuisance=0.1, response_gain=3.0, random_state=0)
    days = {f"d{d}": from_counts(v["counts"], v["label"], bin_size=sim.bin_size,
                                 session=f"d{d}") for d, v in sim.days.items()}
    from spikedecode.align import AlignmentWarning

    with pytest.warns(AlignmentWarning, match="determine only 1 of the 3"):  # 2 classes
        m = cross_day_matrix(days, make_decoder("logistic"),
                             aligner=get_aligner("cca", n_components=3), random_state=0)
    # a strong, shared class signal: every cell well above the 0.5 chance of two classes
    assert m.shape == (2, 2) and float(m.min()) > 0.7


@pytest.mark.parametrize(
    ("kw", "err", "match"),
    [({"counts": np.zeros((6, 5))}, SpikeDecodeValueError, "3-D"),
     ({"counts": np.full((6, 5, 8), -1)}, SpikeDecodeValueError, "non-negative"),
     ({"counts": np.full((6, 5, 8), np.nan)}, SpikeDecodeValueError, "NaN"),
     ({"counts": np.full((6, 5, 8), "a")}, SpikeDecodeTypeError, "numeric"),
     ({"label": LABELS[:5]}, LabelError, "one value per trial"),
     ({"label": np.array([1.0, np.nan, 1, 1, 1, 1])}, LabelError, "NaN"),
     ({"session": None}, ConfigError, "session="),
     ({"pool": 3}, ConfigError, "does not divide"),
     ({"units": ["a", "a", "b", "c", "d"]}, ConfigError, "duplicate"),
     ({"trials": [0, 0, 1, 2, 3, 4]}, ConfigError, "duplicate"),
     ({"coords": {"x": [1, 2]}}, LabelError, r"coords\['x'\]"),
     ({"coords": {"trial": np.arange(6)}}, ConfigError, "reserved"),
     ({"per": "window"}, ConfigError, "per")],
)
def test_bad_input_names_the_field(counts, kw, err, match):
    args = {"counts": counts, "label": LABELS, "bin_size": 0.01, "session": "s", **kw}
    with pytest.raises(err, match=match):
        from_counts(args.pop("counts"), args.pop("label"), **args)


def _steinmetz_root() -> Path | None:
    path = SHARED_DATA / "steinmetz"
    return path if (path / "session1.npz").is_file() else None


@pytest.mark.data
@pytest.mark.skipif(_steinmetz_root() is None,
                    reason=f"{SHARED_DATA}/steinmetz absent (shared real data)")
def test_steinmetz_reader_matches_the_file():
    from spikedecode.datasets import read_steinmetz_npz

    path = _steinmetz_root() / "session1.npz"
    with np.load(path) as f:
        spks, cl, cr = f["spks"], f["contrast_left"], f["contrast_right"]
    w = read_steinmetz_npz(path, drop_equal=True)
    differ = np.flatnonzero(cl != cr)
    assert w.sizes["sample"] == differ.size and w.sizes["unit"] == spks.shape[1]
    np.testing.assert_array_equal(w.values[:, 0, :], spks[differ].sum(axis=2))
    assert (w["label"].values == np.where(cl[differ] > cr[differ], "left", "right")).all()
    assert w.attrs["mouse_name"] == "Cori" and w["unit"].values[0] == "session1:0"


# -- smooth= (Gaussian smoothing over bins, issue 14) ---------------------------------------
@pytest.mark.parametrize(("smooth", "per", "pool"), [(0.01, "trial", 1), (0.015, "trial", 2),
                                                     (0.015, "bin", 1)])
def test_smoothing_conserves_counts_per_unit_and_trial(counts, smooth, per, pool):
    # reflected edges: the kernel's mass that leaves the trial comes back into it, so each
    # unit's total per trial is kept (float rounding only: rtol 1e-9 on sums of ~16 values)
    w = from_counts(counts, LABELS, bin_size=0.01, session="s", per=per, pool=pool,
                    smooth=smooth)
    validate(w, "windows")
    assert w.dtype.kind == "f" and w.attrs["smooth"] == pytest.approx(smooth)
    for t in range(counts.shape[0]):
        got = w.values[w["trial"].values == t].sum(axis=(0, 1))
        np.testing.assert_allclose(got, counts[t].sum(axis=1), rtol=1e-9)


def test_smoothing_leaves_whole_window_counts_and_flattens_time_courses():
    rng = np.random.default_rng(1)
    c = rng.poisson(3.0, size=(4, 3, 40))
    whole = from_counts(c, LABELS[:4], bin_size=0.01, session="s")
    whole_s = from_counts(c, LABELS[:4], bin_size=0.01, session="s", smooth=0.03)
    np.testing.assert_allclose(whole_s.values, whole.values, rtol=1e-9)  # float sums only
    raw = from_counts(c, LABELS[:4], bin_size=0.01, session="s", pool=1)
    sm = from_counts(c, LABELS[:4], bin_size=0.01, session="s", pool=1, smooth=0.03)
    # a low-pass filter: the bin-to-bin variance of every time course drops (a 3-bin sd
    # Gaussian removes most of white Poisson noise's variance; measured ~6x)
    assert sm.values.var(axis=1).mean() < 0.5 * raw.values.var(axis=1).mean()
    assert raw.attrs["smooth"] == 0.0


@pytest.mark.parametrize(("smooth", "err"), [(0.1, ConfigError), (-0.01, ConfigError),
                                             (0.0, ConfigError)])
def test_bad_smooth_names_the_field(counts, smooth, err):
    # 8 bins of 10 ms: a 100 ms sd kernel (4 sd = 40 bins) is longer than the trial
    with pytest.raises(err, match="smooth"):
        from_counts(counts, LABELS, bin_size=0.01, session="s", smooth=smooth)
