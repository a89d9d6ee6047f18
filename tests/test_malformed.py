"""Catalogue of malformed inputs: each raises a specific SpikeDecodeError subclass.

Every case names the field in its message (checked with ``match=``) and none lets a raw
numpy/neo/h5py/pandas exception escape: wrapped errors keep the original as ``__cause__``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import spikedecode
from spikedecode import io as sio
from spikedecode.errors import (
    ConfigError,
    CorruptFileError,
    DataDroppedWarning,
    FileFormatError,
    FileMissingError,
    LabelError,
    NotEnoughDataError,
    RecordingError,
    SchemaError,
    SkippedFileWarning,
    SpikeDecodeError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
    TargetIsDirectoryError,
    TargetNotWritableError,
)
from spikedecode.recording import check_recording, make_recording
from spikedecode.schema import validate
from tests.conftest import shared_data


def _rec() -> xr.Dataset:
    return make_recording(
        [0.1, 0.2, 0.3, 0.7], ["a", "b", "a", "b"], t_stop=1.0,
        epochs=[(0.0, 0.5, "touch/LUM")], session="s", day=1,
    )


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _written(tmp: Path, suffix: str) -> Path:
    return sio.write(_rec(), tmp / f"r{suffix}")


def _binned(**over) -> xr.DataArray:
    kw = dict(
        data=np.zeros((3, 2), dtype=np.int16), dims=("time", "unit"),
        coords={"time": np.arange(3) * 0.005, "unit": ["a", "b"]},
        attrs={"bin_size": 0.005, "t_start": 0.0, "t_stop": 0.015},
    )
    kw.update(over)
    return xr.DataArray(**kw)


def _windows(**over) -> xr.DataArray:
    kw = dict(
        data=np.zeros((4, 5, 2), dtype=np.int16), dims=("sample", "lag", "unit"),
        coords={"time": ("sample", np.arange(4) * 0.005)},
        attrs={"bin_size": 0.005, "n_bins": 5, "step": 1},
    )
    kw.update(over)
    return xr.DataArray(**kw)


def _drop_var(name: str) -> Callable[[Path], object]:
    return lambda tmp: check_recording(_rec().drop_vars(name))


def _with_attrs(**over) -> xr.Dataset:
    rec = _rec()
    rec.attrs.update(over)
    return rec


def _nwb_bytes_cut(tmp: Path) -> object:
    src = shared_data("nwb", "A8604-211122.nwb")
    p = tmp / "cut.nwb"
    p.write_bytes(src.read_bytes()[:50_000])
    return sio.read(p)


def _nwb_bad_label(tmp: Path) -> object:
    src = shared_data("nwb", "A8604-211122.nwb")
    return sio.read(src, label_column="stimCategory")


def _nwb_bad_table(tmp: Path) -> object:
    src = shared_data("nwb", "A8604-211122.nwb")
    return sio.read(src, intervals=["trials"])


def _write_text(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def _pickle_file(tmp: Path) -> object:
    import pickle

    p = tmp / "rec.bin"
    p.write_bytes(pickle.dumps({"time": [0.1]}, protocol=4))
    return sio.read(p)


def _npz_objects(tmp: Path) -> object:
    p = tmp / "obj.npz"
    np.savez(p, time=np.array([0.1]), unit=np.array([{"a": 1}], dtype=object))
    return sio.read(p)


def _zarr_broken(tmp: Path) -> object:
    p = _written(tmp, ".zarr")
    (p / ".zgroup").write_text("{not json")
    for m in (".zmetadata", "zarr.json"):
        if (p / m).exists():
            (p / m).unlink()
    return sio.read(p)


def _foreign_mat(tmp: Path) -> object:
    from scipy.io import savemat

    p = tmp / "spikes.mat"
    savemat(p, {"spikes": np.array([[0.1, 0.2]])})  # a lab's own layout, not neo's
    return sio.read(p)


def _foreign_netcdf(tmp: Path) -> object:
    p = tmp / "other.nc"
    xr.Dataset({"x": ("time", np.arange(3.0))}).to_netcdf(p, engine="h5netcdf")
    return sio.read(p)


def _foreign_hdf5(tmp: Path) -> object:
    import h5py

    p = tmp / "foreign.nwb5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    return sio.read(p)


# ---- hostile inputs (issue 12): each was a raw traceback or passed silently before
def _npz_bomb(tmp: Path) -> object:
    p = tmp / "bomb.npz"
    # 32 MiB of zeros compress ~1000x: a small file that would allocate 32 MiB to read
    np.savez_compressed(p, time=np.zeros(4 << 20), unit=np.zeros(4 << 20, dtype=np.int32))
    assert p.stat().st_size < 1 << 20
    return sio.read(p)


def _npz_lying_header(tmp: Path) -> object:
    import io
    import zipfile

    from numpy.lib import format as npformat

    buf = io.BytesIO()  # a header claiming 2 GB of float64, followed by 80 bytes
    npformat.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (250_000_000,)})
    buf.write(np.arange(10.0).tobytes())
    p = tmp / "liar.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("time.npy", buf.getvalue())
        zf.writestr("unit.npy", buf.getvalue())
    return sio.read(p)


def _npz_count_mismatch(tmp: Path) -> object:
    np.savez(tmp / "m.npz", time=np.array([0.1, 0.2]), unit=np.array(["a"]))
    return sio.read(tmp / "m.npz")


def _npz_bytes_not_utf8(tmp: Path) -> object:
    np.savez(tmp / "b.npz", time=np.array([0.1, 0.2]), unit=np.array([b"\xff", b"a"]))
    return sio.read(tmp / "b.npz")


def _nul_unit_id(tmp: Path) -> object:
    return sio.write(make_recording([0.1, 0.2], ["a\x00b", "c"], t_stop=1.0), tmp / "n.nc")


def _write_over_directory(tmp: Path) -> object:
    (tmp / "r.nc").mkdir()
    return sio.write(_rec(), tmp / "r.nc")


def _attack_text_labels(tmp: Path) -> object:
    import torch

    from spikedecode.robust.attacks import fgsm

    return fgsm(torch.nn.Linear(4, 2), torch.rand(2, 4), ["left", "right"], eps=0.1)


def _bin_too_large(tmp: Path) -> object:
    from spikedecode.preprocess import bin_spikes

    return bin_spikes(make_recording([0.5], ["a"], t_stop=1e9), 0.001)


def _nwb_unsorted(tmp: Path) -> object:
    from tests.io.nwb_factory import make_nwb

    return sio.read(make_nwb(tmp / "zeroed.nwb", trains=([0.2, 0.6, 0.0, 0.0, 0.9], [0.3])))


def _read_many_raise(tmp: Path) -> object:
    sio.write(_rec(), tmp / "day1.nc")
    (tmp / "README.txt").write_text("recorded by the lab")
    return sio.read_many(tmp, errors="raise")



# (id, callable(tmp_path), expected exception, match)
CASES: list[tuple[str, Callable[[Path], object], type[SpikeDecodeError], str]] = [
    # ---- construction from arrays / trains
    ("unsorted_train", lambda t: spikedecode.from_spiketrains({"u1": [0.3, 0.1]}, t_stop=1.0),
     RecordingError, r"spiketrains\['u1'\] is not sorted"),
    ("nan_time", lambda t: make_recording([0.1, np.nan], ["a", "a"], t_stop=1.0),
     RecordingError, r"spike_time has 1 non-finite"),
    ("inf_time", lambda t: make_recording([0.1, np.inf], ["a", "a"]),
     RecordingError, r"spike_time has 1 non-finite"),
    ("nan_in_train", lambda t: spikedecode.from_spiketrains({"u1": [np.nan]}, t_stop=1.0),
     RecordingError, r"spiketrains\['u1'\] has 1 non-finite"),
    ("negative_without_t_start", lambda t: make_recording([-0.5, 0.2], ["a", "a"], t_stop=1.0),
     RecordingError, r"spike_time has 1 negative value.*pass t_start"),
    ("spike_after_t_stop", lambda t: make_recording([0.1, 2.0], ["a", "a"], t_stop=1.0),
     RecordingError, r"outside \[t_start, t_stop\)"),
    ("spike_at_t_stop", lambda t: make_recording([0.1, 1.0], ["a", "a"], t_stop=1.0),
     RecordingError, r"outside \[t_start, t_stop\)"),
    ("duplicate_unit_ids", lambda t: make_recording([0.1], [0], units=["a", "a"], t_stop=1.0),
     RecordingError, r"unit ids must be unique"),
    ("zero_units", lambda t: make_recording([], [], t_stop=1.0),
     RecordingError, r"zero units"),
    ("t_stop_before_t_start", lambda t: make_recording([0.1], ["a"], t_start=1.0, t_stop=0.5),
     RecordingError, r"t_stop == 0.5 must be > t_start == 1.0"),
    ("t_stop_equals_t_start", lambda t: make_recording([], [], units=["a"], t_start=1.0, t_stop=1.0),
     RecordingError, r"t_stop == 1.0 must be > t_start"),
    ("epoch_stop_before_start",
     lambda t: make_recording([0.1], ["a"], t_stop=1.0, epochs=[(0.5, 0.2, "x")]),
     RecordingError, r"epochs\[0\] has stop == 0.2 < start == 0.5"),
    ("epoch_outside_recording",
     lambda t: make_recording([0.1], ["a"], t_stop=1.0, epochs=[(0.5, 3.0, "x")]),
     RecordingError, r"epoch\(s\) lie outside the recording"),
    ("epochs_missing_columns",
     lambda t: make_recording([0.1], ["a"], t_stop=1.0, epochs={"start": [0.1], "end": [0.2]}),
     RecordingError, r"epochs is missing \['stop', 'label'\]"),
    ("epochs_bad_rows",
     lambda t: make_recording([0.1], ["a"], t_stop=1.0, epochs=[(0.1, 0.2)]),
     RecordingError, r"epochs must be rows of \(start, stop, label\)"),
    ("length_mismatch", lambda t: make_recording([0.1, 0.2], ["a"], t_stop=1.0),
     RecordingError, r"spike_time has 2 values but spike_unit has 1"),
    ("non_numeric_times", lambda t: make_recording(["0.1", "x"], ["a", "a"], t_stop=1.0),
     SpikeDecodeTypeError, r"spike_time must be numbers"),
    ("unit_index_out_of_range", lambda t: make_recording([0.1], [3], units=["a"], t_stop=1.0),
     RecordingError, r"spike_unit holds indices in \[3, 3\]"),
    ("unknown_unit_name", lambda t: make_recording([0.1], ["z"], units=["a"], t_stop=1.0),
     RecordingError, r"spike_unit names 1 unit\(s\) not in units"),
    ("spiketrains_not_mapping", lambda t: spikedecode.from_spiketrains([[0.1]]),
     SpikeDecodeTypeError, r"spiketrains must be a mapping"),
    ("from_neo_wrong_type", lambda t: spikedecode.from_neo({"a": 1}),
     SpikeDecodeTypeError, r"from_neo takes a neo.Block or neo.Segment"),
    # ---- Datasets that break the data model
    ("wrong_dims", lambda t: check_recording(_rec().rename_dims(spike="time")),
     SchemaError, r"spike"),
    ("write_unserialisable_attr", lambda t: sio.write(_with_attrs(truth={"w": [1, 2]}), t / "x.nc"),
     SchemaError, r"attrs\['truth'\] is a dict"),
    ("write_wrong_dims", lambda t: sio.write(_rec().rename_dims(spike="time"), t / "x.nc"),
     SchemaError, r"spike"),
    ("wrong_dtype", lambda t: check_recording(_rec().assign(spike_time=lambda d: (d.spike_time * 1000).astype(np.int64))),
     SchemaError, r"data_vars/spike_time/dtype"),
    ("missing_variable", _drop_var("epoch_label"), SchemaError, r"'epoch_label' is a required property"),
    ("missing_attr", lambda t: check_recording(_rec().drop_attrs()), SchemaError, r"'t_start' is a required property"),
    ("bad_schema_version", lambda t: check_recording(_with_attrs(schema_version="2.0")),
     SchemaError, r"attrs/schema_version"),
    ("unsorted_dataset", lambda t: check_recording(_rec().isel(spike=[1, 0, 2, 3])),
     SchemaError, r"spikes must be sorted by unit, then time"),
    ("not_a_dataset", lambda t: check_recording(np.zeros(3)), SpikeDecodeTypeError, r"expected an xarray Dataset"),
    ("binned_wrong_dims", lambda t: validate(_binned(dims=("unit", "time"), coords={}), "binned"),
     SchemaError, r"not a valid binned: at dims"),
    ("binned_float_counts", lambda t: validate(_binned(data=np.zeros((3, 2))), "binned"),
     SchemaError, r"at dtype_kind"),
    ("binned_bad_bin_size", lambda t: validate(_binned(attrs={"bin_size": -1.0, "t_start": 0.0, "t_stop": 1.0}), "binned"),
     SchemaError, r"attrs/bin_size"),
    ("windows_missing_attr", lambda t: validate(_windows(attrs={"bin_size": 0.005, "step": 1}), "windows"),
     SchemaError, r"'n_bins' is a required property"),
    ("windows_wrong_dims", lambda t: validate(_windows(dims=("sample", "unit", "lag")), "windows"),
     SchemaError, r"at dims"),
    ("unknown_schema", lambda t: validate(_binned(), "spectrogram"), SchemaError, r"no schema named 'spectrogram'"),
    # ---- files
    ("missing_file", lambda t: sio.read(t / "nope.nwb"), FileMissingError, r"nope.nwb' does not exist"),
    ("empty_file", lambda t: sio.read(_write_text(t, "e.nc", "")), CorruptFileError, r"is empty \(0 bytes\)"),
    ("unknown_file_type", lambda t: sio.read(_write_text(t, "r.xyz123", "hello")),
     FileFormatError, r"unknown file type .*r.xyz123"),
    ("write_unknown_suffix", lambda t: sio.write(_rec(), t / "r.parquet"),
     FileFormatError, r"cannot write suffix '.parquet'"),
    ("truncated_nc", lambda t: sio.read(_truncate(_written(t, ".nc"))), CorruptFileError, r"r.nc"),
    ("nc_not_hdf5", lambda t: sio.read(_write_text(t, "fake.nc", "time,unit\n")),
     CorruptFileError, r"has suffix .nc but is not an HDF5/netCDF file"),
    ("foreign_netcdf", _foreign_netcdf, SchemaError, r"'spike' is a required property"),
    ("foreign_hdf5", _foreign_hdf5, FileFormatError, r"neither NWB, NIX nor netCDF"),
    ("truncated_npz", lambda t: sio.read(_truncate(_written(t, ".npz"))), CorruptFileError, r"r.npz is not a valid npz"),
    ("npz_pickled_objects", _npz_objects, FileFormatError, r"never unpickles"),
    ("npz_missing_arrays", lambda t: (np.savez(t / "m.npz", spikes=np.zeros(2)), sio.read(t / "m.npz")),
     FileFormatError, r"missing array\(s\) \['time', 'unit'\]"),
    ("pickle_content", _pickle_file, FileFormatError, r"is a Python pickle"),
    ("pickle_suffix", lambda t: sio.read(_write_text(t, "r.pkl", "x")), FileFormatError, r"never unpickles"),
    ("csv_bad_header", lambda t: sio.read(_write_text(t, "s.csv", "t,neuron\n0.1,a\n")),
     FileFormatError, r"missing column\(s\) \['time', 'unit'\]"),
    ("csv_non_numeric_time", lambda t: sio.read(_write_text(t, "s.csv", "time,unit\n0.1,a\nabc,b\n")),
     SpikeDecodeTypeError, r"column 'time' .* row 2 holds 'abc'"),
    ("csv_bad_meta_line", lambda t: sio.read(_write_text(t, "s.csv", "# spikedecode {oops\ntime,unit\n")),
     CorruptFileError, r"'# spikedecode' header line is not valid JSON"),
    ("csv_not_text", lambda t: (t.joinpath("b.csv").write_bytes(b"\xff\xfe\x00\x81" * 10), sio.read(t / "b.csv")),
     CorruptFileError, r"not a text table"),
    ("epochs_sidecar_missing_columns",
     lambda t: (_write_text(t, "s.epochs.csv", "begin,end\n0,1\n"), sio.read(_write_text(t, "s.csv", "time,unit\n0.1,a\n"))),
     FileFormatError, r"epoch table .* missing column\(s\) \['start', 'stop', 'label'\]"),
    ("zarr_broken_metadata", _zarr_broken, CorruptFileError, r"could not be read as zarr"),
    ("zarr_dir_without_metadata", lambda t: (t.joinpath("e.zarr").mkdir(), sio.read(t / "e.zarr")),
     CorruptFileError, r"has no zarr metadata"),
    ("truncated_nix", lambda t: sio.read(_truncate(_written(t, ".nix"), 0.3)), CorruptFileError, r"r.nix"),
    ("netcdf_reader_options", lambda t: sio.read(_written(t, ".nc"), intervals="all"),
     FileFormatError, r"the netcdf reader takes no options"),
    ("truncated_nwb", _nwb_bytes_cut, CorruptFileError, r"cut.nwb"),
    ("nwb_unknown_label_column", _nwb_bad_label, ConfigError, r"label_column == 'stimCategory' is not a column"),
    ("nwb_unknown_intervals", _nwb_bad_table, ConfigError, r"intervals names \['trials'\]"),
    ("plain_folder", lambda t: (t.joinpath("sub").mkdir(), t.joinpath("sub", "notes.md").write_text("x"), sio.read(t / "sub")),
     FileFormatError, r"folder .*sub is neither a zarr store nor a folder format neo knows"),
    ("mat_foreign_layout", _foreign_mat, CorruptFileError, r"Only neo's own .mat layout"),
    ("neo_forced_pickleio", lambda t: sio.read_neo(_written(t, ".nc"), io="PickleIO"),
     FileFormatError, r"'PickleIO' is refused"),
    # ---- hostile inputs (issue 12)
    ("csv_meta_is_a_list", lambda t: sio.read(_write_text(t, "s.csv", "# spikedecode [1, 2]\ntime,unit\n0.1,a\n")),
     CorruptFileError, r"s.csv: the '# spikedecode' header line must hold a JSON object .* got a JSON list"),
    ("csv_meta_text_t_stop", lambda t: sio.read(_write_text(t, "s.csv", '# spikedecode {"t_stop": "ten"}\ntime,unit\n0.1,a\n')),
     CorruptFileError, r"s.csv: the '# spikedecode' header line has t_stop == 'ten'; it must be a finite number"),
    ("csv_meta_units_not_a_list", lambda t: sio.read(_write_text(t, "s.csv", '# spikedecode {"units": "a"}\ntime,unit\n0.1,a\n')),
     CorruptFileError, r"has units == a; it must be a list of unit ids"),
    ("npz_bytes_ids_not_utf8", _npz_bytes_not_utf8, SpikeDecodeTypeError, r"b.npz: array 'unit' holds bytes that are not UTF-8 text, e.g. b'\\xff'"),
    ("bytes_ids_not_utf8", lambda t: make_recording([0.1], [b"\xe9t\xe9"], t_stop=1.0),
     SpikeDecodeTypeError, r"spike_unit holds bytes that are not UTF-8 text"),
    ("bytes_units_not_utf8", lambda t: make_recording([0.1], [0], units=[b"\xff"], t_stop=1.0),
     SpikeDecodeTypeError, r"units holds bytes that are not UTF-8 text"),
    ("write_nul_in_unit_id", _nul_unit_id, SchemaError, r"unit\[0\] == 'a\\x00b': a unit id contains a NUL"),
    ("write_over_directory", _write_over_directory, TargetIsDirectoryError, r"r.nc'?: a folder of that name exists"),
    ("attack_text_labels", _attack_text_labels, SpikeDecodeTypeError, r"y must hold integer class indices .* got dtype <U5 \(e.g. 'left'\)"),
    ("bin_output_too_large", _bin_too_large, SpikeDecodeValueError,
     r"would allocate 1,000,000,000,000 bins x 1 units x 1 byte\(s\).*t_stop == 1000000000.0 is the recording's"),
    ("npz_decompression_bomb", _npz_bomb, CorruptFileError, r"bomb.npz: array 'time' would expand from [\d,]+ to 33,554,560 bytes"),
    ("npz_header_larger_than_member", _npz_lying_header, CorruptFileError,
     r"liar.npz: array 'time' declares shape \(250000000,\) of float64 \(2,000,000,128 bytes"),
    ("npz_time_unit_count_mismatch", _npz_count_mismatch, CorruptFileError, r"m.npz: array 'unit' has 1 values but 'time' has 2"),
    ("nwb_unsorted_spike_times", _nwb_unsorted, RecordingError, r"zeroed.nwb: the spike times of 1 unit\(s\) are not sorted"),
    ("read_many_errors_raise", _read_many_raise, FileFormatError, r"README.txt"),
]


# ---- hostile inputs, round two (issue 23)
def _nwb_custom(path: Path, *, trials=((0.0, 1.0, "LUM"), (1.0, 2.5, "LBR")),
                obs: list | None = None) -> Path:
    """Two units; a trials table with a ``stimulus`` column; optional obs_intervals."""
    import warnings
    from datetime import datetime, timezone

    import pynwb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwb = pynwb.NWBFile(session_description="x", identifier="x",
                            session_start_time=datetime(2024, 1, 2, tzinfo=timezone.utc))
        for i, st in enumerate(([0.1, 0.5, 2.0, 3.5], [0.3, 1.2])):
            kw = {"obs_intervals": obs[i]} if obs is not None else {}
            nwb.add_unit(spike_times=st, id=10 + i, **kw)
        nwb.add_trial_column("stimulus", "stimulus name")
        for a, b, lab in trials:
            nwb.add_trial(start_time=a, stop_time=b, stimulus=lab)
        with pynwb.NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    return path


def _xy(n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], n // 2)
    return rng.normal(size=(n, 3)) + y[:, None], y, np.arange(n) // 2


def _scores(X, y, g=None, **kw) -> object:
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import within_day_scores

    kw = {"n_splits": 2, "n_boot": 10, "random_state": 0, **kw}
    return within_day_scores(make_decoder("logistic", random_state=0), X, y, g, **kw)


def _with_nan_x(tmp: Path) -> object:
    X, y, g = _xy()
    X[3, 1] = np.nan
    return _scores(X, y, g)


def _with_inf_x(tmp: Path) -> object:
    X, y, g = _xy()
    X[5, 0] = np.inf
    return _scores(X, y, g)


def _object_x(tmp: Path) -> object:
    X, y, g = _xy()
    return _scores(X.astype(object), y, g)


def _none_label(tmp: Path) -> object:
    X, y, g = _xy()
    yo = y.astype(object)
    yo[2] = None
    return _scores(X, yo, g)


def _epoch_rec() -> xr.Dataset:
    return make_recording([0.1, 0.6, 1.2], ["a", "a", "b"], t_stop=2.0,
                          epochs=[(0.5, 1.0, "x"), (1.5, 2.0, "y")])


def _cli(tmp: Path, *args: str) -> object:
    """Run the CLI in-process and re-raise the SpikeDecodeError it turned into exit 2."""
    from spikedecode.cli import cli

    return cli.main(args=list(args), prog_name="spikedecode", standalone_mode=False)


def _cli_decode(tmp: Path, *args: str) -> object:
    rec_path = sio.write(_rec(), tmp / "r.nc")
    return _cli(tmp, "decode", str(rec_path), "--out", str(tmp / "out"), *args)


def _config(tmp: Path, text: str) -> str:
    p = tmp / "exp.toml"
    p.write_text(text)
    return str(p)


def _out_is_file(tmp: Path) -> object:
    (tmp / "taken").write_text("x")
    rec_path = sio.write(_rec(), tmp / "r.nc")
    return _cli(tmp, "decode", str(rec_path), "--out", str(tmp / "taken"))


def _out_unwritable(tmp: Path) -> object:
    rec_path = sio.write(_rec(), tmp / "r.nc")
    return _cli(tmp, "decode", str(rec_path), "--out", "/proc/spikedecode-out")


def _robust_steps_zero(tmp: Path) -> object:
    return _cli(tmp, "robust", "--steps", "0", "--limit", "50")


def _write_under_a_file(tmp: Path) -> object:
    (tmp / "notes").write_text("a file, not a folder")
    return sio.write(_rec(), tmp / "notes" / "r.nc")


def _figure_unknown_suffix(tmp: Path) -> object:
    import matplotlib.pyplot as plt

    from spikedecode.plotting import save_figure

    fig, _ = plt.subplots()
    return save_figure(fig, tmp / "figure.pgn")


def _consistency_seed(tmp: Path) -> object:
    paths = [str(sio.write(_rec(), tmp / f"d{d}.nc")) for d in (1, 2)]
    return _cli(tmp, "consistency", *paths, "--seed", "-1")


CASES_ROUND_TWO: list[tuple[str, Callable[[Path], object], type[SpikeDecodeError], str]] = [
    # raw before
    ("cli_config_n_boot_huge", lambda t: _cli_decode(t, "--config", _config(t, "[decode]\nn_boot = 1e15\n")),
     ConfigError, r"--n-boot == 1e\+15, must be an integer in \[1, 1000000\]"),
    ("cli_seed_negative", lambda t: _cli_decode(t, "--seed", "-1"),
     ConfigError, r"--seed == -1, must be an integer in \[0, 4294967295\]"),
    ("cli_consistency_seed_negative", _consistency_seed, ConfigError, r"--seed == -1"),
    ("cli_out_is_a_file", _out_is_file, ConfigError, r"--out '.*taken' is an existing file; pass a folder"),
    ("cli_out_unwritable", _out_unwritable, ConfigError, r"--out '/proc/spikedecode-out': cannot write there"),
    ("scores_nan_in_x", _with_nan_x, SpikeDecodeValueError, r"X holds 1 NaN or infinite value\(s\), in 1 row\(s\) \(first: row 3\)"),
    ("scores_inf_in_x", _with_inf_x, SpikeDecodeValueError, r"X holds 1 NaN or infinite value\(s\)"),
    ("scores_object_x", _object_x, SpikeDecodeTypeError, r"X has dtype object .*X.astype\(float\)"),
    ("scores_zero_trials", lambda t: _scores(np.zeros((0, 3)), np.zeros(0, int)),
     NotEnoughDataError, r"X and y hold 0 samples"),
    ("scores_x_shorter_than_y", lambda t: _scores(_xy()[0][:30], _xy()[1]),
     SpikeDecodeValueError, r"X has 30 rows but y has 40 labels"),
    ("scores_x_longer_than_y", lambda t: _scores(_xy()[0], _xy()[1][:30]),
     SpikeDecodeValueError, r"X has 40 rows but y has 30 labels"),
    ("scores_none_label", _none_label, LabelError, r"y holds 1 missing label\(s\) \(None or NaN; first at sample 2\)"),
    ("scores_negative_n_boot", lambda t: _scores(*_xy()[:2], n_boot=-5),
     ConfigError, r"n_boot == -5, must be an integer in \[0, 1000000\]"),
    ("bootstrap_huge_n_boot", lambda t: spikedecode.bootstrap_ci([0, 1], [0, 1], n_boot=10**15),
     ConfigError, r"n_boot == 1000000000000000, must be an integer in \[0, 1000000\]"),
    ("epoch_bins_nan_window", lambda t: spikedecode.preprocess.epoch_bins(_epoch_rec(), t_window=(np.nan, 1)),
     ConfigError, r"t_window == \(nan, 1\), must be two finite numbers"),
    ("epoch_bins_all_past_t_stop", lambda t: spikedecode.preprocess.epoch_bins(_epoch_rec(), t_window=(5.0, 6.0)),
     RecordingError, r"event window\(s\) leave the recording \[0, 2\) s"),
    ("epoch_bins_window_past_t_stop",
     lambda t: spikedecode.preprocess.epoch_bins(_epoch_rec(), bin_size=0.1, t_window=(0.0, 0.8)),
     RecordingError, r"1 event window\(s\) leave the recording \[0, 2\) s, e.g. row 1: start_time = 1.5 s"),
    ("consistency_zero_diagonal", lambda t: spikedecode.consistency_score(xr.DataArray([[0.0, 0.5], [0.5, 0.0]])),
     SpikeDecodeValueError, r"consistency_score: the mean diagonal is 0; the score divides by it"),
    ("consistency_diagonal_at_chance", lambda t: spikedecode.consistency_score(xr.DataArray([[0.5, 0.5], [0.5, 0.5]]), chance=0.5),
     SpikeDecodeValueError, r"the mean diagonal - chance \(0.5\) is 0"),
    ("decoder_class_weight_typo", lambda t: spikedecode.make_decoder("logistic", class_weight="weird"),
     ConfigError, r"class_weight == 'weird', must be None, 'balanced' or a dict"),
    ("csv_with_intervals", lambda t: sio.read(_write_text(t, "x.csv", "time,unit\n0.1,a\n"), intervals="trials"),
     FileFormatError, r"x.csv: the table reader takes no options \['intervals'\]: only NWB files have interval tables"),
    ("npz_with_label_column", lambda t: sio.read(_written(t, ".npz"), label_column="stimulus"),
     FileFormatError, r"r.npz: the npz reader takes no options \['label_column'\]"),
    # wrongly accepted before
    ("nwb_nan_trial_label", lambda t: sio.read(_nwb_custom(t / "nan.nwb", trials=((0.0, 1.0, 1.0), (1.0, 2.0, float("nan"))))),
     LabelError, r"interval table 'trials', label column 'stimulus': 1 row\(s\) have no label \(NaN or empty; e.g. row 1"),
    ("nwb_empty_trial_label", lambda t: sio.read(_nwb_custom(t / "empty.nwb", trials=((0.0, 1.0, "a"), (1.0, 2.0, "")))),
     LabelError, r"1 row\(s\) have no label .* 'trials/'"),
    ("nwb_zero_length_trial", lambda t: sio.read(_nwb_custom(t / "zero.nwb", trials=((0.0, 1.0, "a"), (1.5, 1.5, "b")))),
     RecordingError, r"interval table 'trials': 1 row\(s\) have stop_time == start_time \(zero length; e.g. row 1 at 1.5 s\)"),
    ("nwb_label_column_unknown_table", lambda t: sio.read(_nwb_custom(t / "m.nwb"), label_column={"trails": "stimulus"}),
     ConfigError, r"label_column names table\(s\) \['trails'\] that are not read as epochs"),
    ("csv_repeated_column", lambda t: sio.read(_write_text(t, "dup.csv", "time,unit,time\n0.1,a,0.2\n")),
     FileFormatError, r"dup.csv: column\(s\) \['time'\] appear more than once in the header"),
    ("epoch_label_empty", lambda t: make_recording([0.1], ["a"], t_stop=1.0, epochs=[(0.0, 0.5, "")]),
     RecordingError, r"1 epoch label\(s\) are missing .* epochs\[0\] has label ''"),
    ("epoch_label_none", lambda t: make_recording([0.1], ["a"], t_stop=1.0, epochs=[(0.0, 0.5, None)]),
     RecordingError, r"epochs\[0\] has label None\); they would become a class named 'None'"),
    ("npz_epoch_start_without_stop", lambda t: (np.savez(t / "e.npz", time=np.array([0.1]), unit=np.array(["a"]), epoch_start=np.array([0.0])), sio.read(t / "e.npz")),
     FileFormatError, r"e.npz: holds \['epoch_start'\] but not \['epoch_stop'\]"),
    ("cli_n_boot_negative", lambda t: _cli_decode(t, "--n-boot", "-1"),
     ConfigError, r"--n-boot == -1, must be an integer in \[1, 1000000\]"),
    ("cli_permutations_negative", lambda t: _cli_decode(t, "--permutations", "-2"),
     ConfigError, r"--permutations == -2, must be an integer in \[0, 100000\]"),
    ("cli_decoder_only_commas", lambda t: _cli_decode(t, "--decoder", ","),
     ConfigError, r"--decoder == ',' names no decoder"),
    ("cli_robust_steps_zero", _robust_steps_zero, ConfigError, r"--steps == 0, must be an integer >= 1"),
    ("trial_windows_nan_offset", lambda t: spikedecode.trial_windows(spikedecode.bin_spikes(_epoch_rec(), 0.1), _epoch_rec(), n_bins=2, offset=np.nan),
     ConfigError, r"offset == nan, must be a finite number of seconds"),
    # misleading before
    ("cli_n_splits_one", lambda t: _cli_decode(t, "--n-splits", "1"),
     ConfigError, r"--n-splits == 1, must be an integer >= 2 \(cross-validation needs at least 2 folds\)"),
    ("cli_window_1e300", lambda t: _cli_decode(t, "--config", _config(t, "[decode]\nwindow = 1e300\n")),
     ConfigError, r"--window == 1e\+300, must be an integer in \[1, 1000000\]"),
    # round three: the writers shared by every command and figure
    ("write_under_a_file", _write_under_a_file, TargetNotWritableError,
     r"r.nc': its folder '.*notes' cannot be created or written to"),
    ("figure_unknown_suffix", _figure_unknown_suffix, SpikeDecodeValueError,
     r"figure.pgn'?: its suffix '.pgn' names no image format .* \.png"),
]
CASES += CASES_ROUND_TWO


def _warn_rec(*args, **kw) -> Callable[[Path], object]:
    return lambda tmp: make_recording(*args, **kw)


def _nwb_negative(tmp: Path) -> object:
    from tests.io.nwb_factory import make_nwb

    return sio.read(make_nwb(tmp / "neg.nwb", trains=([-0.25, 0.5], [0.3])))


def _read_many_foreign(tmp: Path) -> object:
    sio.write(_rec(), tmp / "day1.nc")
    (tmp / "README.txt").write_text("recorded by the lab")
    return sio.read_many(tmp)


# suspicious input that is kept, with a warning: (id, callable(tmp_path), warning, match)
WARN_CASES: list[tuple[str, Callable[[Path], object], type[Warning], str]] = [
    ("empty_unit_id", _warn_rec([0.1, 0.2], ["", "a"], t_stop=1.0),
     SpikeDecodeWarning, r"1 unit id\(s\) are empty strings"),
    ("two_d_times_flattened", _warn_rec(np.array([[0.1, 0.2], [0.3, 0.4]]), ["a", "a", "b", "b"], t_stop=1.0),
     SpikeDecodeWarning, r"spike_time has shape \(2, 2\); it was flattened"),
    ("two_d_units_flattened", _warn_rec([0.1, 0.2, 0.3, 0.4], np.array([["a", "a"], ["b", "b"]]), t_stop=1.0),
     SpikeDecodeWarning, r"spike_unit has shape \(2, 2\); it was flattened"),
    ("float_unit_ids", _warn_rec([0.1, 0.2], [1.0, 2.0], t_stop=1.0),
     SpikeDecodeWarning, r"spike_unit holds floats \(dtype float64\); .* '1.0'"),
    ("times_look_like_ms", _warn_rec([100.0, 200_000.0], ["a", "a"]),
     SpikeDecodeWarning, r"spike_time spans 55.5 hours .* milliseconds"),
    ("exact_duplicate_spikes", _warn_rec([0.1, 0.3, 0.1], ["a", "a", "a"], t_stop=1.0),
     SpikeDecodeWarning, r"1 spike\(s\) repeat an earlier spike of the same unit exactly \(e.g. unit 'a' at 0.1 s\)"),
    ("unit_without_spikes", _warn_rec([0.1], [0], units=["a", "b"], t_stop=1.0),
     SpikeDecodeWarning, r"1 unit\(s\) have no spikes .*\['b'\]"),
    ("nwb_negative_spike_times", _nwb_negative,
     SpikeDecodeWarning, r"neg.nwb: 1 spike time\(s\) are negative \(earliest -0.25 s, unit '10'\)"),
    ("read_many_foreign_file", _read_many_foreign,
     SkippedFileWarning, r"skipped README.txt: (FileFormatError|CorruptFileError)"),
    # issue 23: kept, but what was silently wrong is now corrected and reported
    ("nwb_spikes_outside_obs_intervals",
     lambda t: sio.read(_nwb_custom(t / "obs.nwb", obs=[[[0.0, 1.0], [3.0, 4.0]], [[0.0, 4.0]]])),
     DataDroppedWarning, r"obs.nwb: dropped 1 spike\(s\) outside their unit's obs_intervals \(e.g. unit '10' at 2.0 s\)"),
    ("nwb_unobserved_time_excluded",
     lambda t: sio.read(_nwb_custom(t / "obs2.nwb", obs=[[[0.0, 1.0], [2.0, 4.0]], [[0.0, 4.0]]])),
     DataDroppedWarning, r"obs2.nwb: 1 s in 1 span\(s\) lie outside some unit's obs_intervals; that time is excluded"),
]


@pytest.mark.parametrize(("make", "category", "match"), [c[1:] for c in WARN_CASES],
                         ids=[c[0] for c in WARN_CASES])
def test_suspicious_input_warns(tmp_path, make, category, match):
    with pytest.warns(category, match=match):
        out = make(tmp_path)
    assert out is not None  # the input is kept, not refused


@pytest.mark.parametrize(("make", "exc", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_raises_specific_error(tmp_path, make, exc, match):
    with pytest.raises(exc, match=match) as info:
        make(tmp_path)
    err = info.value
    assert isinstance(err, SpikeDecodeError)
    # a wrapped third-party error stays reachable as the cause, never as the error itself
    assert type(err).__module__ == "spikedecode.errors"


def test_catalogue_is_large_enough():
    assert len(CASES) >= 20
    assert len({c[0] for c in CASES}) == len(CASES)


def test_wrapped_errors_keep_their_cause(tmp_path):
    p = _truncate(sio.write(_rec(), tmp_path / "r.nc"))
    with pytest.raises(CorruptFileError) as info:
        sio.read(p)
    assert info.value.__cause__ is not None


def test_missing_file_is_also_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        sio.read(tmp_path / "nothing.csv")


def test_json_meta_is_used(tmp_path):
    # sanity for the csv metadata line used above: a valid one is honoured
    p = tmp_path / "s.csv"
    p.write_text("# spikedecode " + json.dumps({"t_stop": 5.0, "day": 4}) + "\ntime,unit\n0.1,a\n")
    rec = sio.read(p)
    assert rec.attrs["t_stop"] == 5.0 and rec.attrs["day"] == 4


READ_CASES = [c for c in CASES if c[0] in {
    "empty_file", "truncated_nc", "foreign_netcdf", "truncated_npz", "npz_missing_arrays",
    "csv_bad_header", "csv_non_numeric_time", "csv_meta_text_t_stop", "zarr_broken_metadata",
    "truncated_nwb", "npz_decompression_bomb", "nwb_unsorted_spike_times",
}]


@pytest.mark.parametrize("make", [c[1] for c in READ_CASES], ids=[c[0] for c in READ_CASES])
def test_every_read_error_names_its_file(tmp_path, make):
    with pytest.raises(SpikeDecodeError) as info:
        make(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}  # the file (or folder) the case made
    assert any(name in str(info.value) for name in names), str(info.value)


def test_obs_intervals_unobserved_time_is_excluded_not_silence(tmp_path):
    path = _nwb_custom(tmp_path / "obs.nwb", obs=[[[0.0, 1.0], [3.0, 4.0]], [[0.0, 4.0]]])
    with pytest.warns(DataDroppedWarning):
        rec = sio.read(path)
    # unit '10' loses its spike at 2.0 s (unobserved); the gap [1, 3) is excluded time
    assert 2.0 not in rec.spikedecode.unit("10").tolist()
    spans = list(zip(rec["excluded_start"].values, rec["excluded_stop"].values,
                     rec["excluded_table"].values))
    assert (1.0, 3.0, "obs_intervals") in [(float(a), float(b), str(c)) for a, b, c in spans]


def test_epoch_bins_counts_only_recorded_time():
    # the epoch at 1.5 s would end at 2.3 s, past t_stop = 2 s: an error, not zero counts
    with pytest.raises(RecordingError, match="leave the recording"):
        spikedecode.preprocess.epoch_bins(_epoch_rec(), bin_size=0.1, t_window=(0.0, 0.8))
    w = spikedecode.preprocess.epoch_bins(_epoch_rec(), bin_size=0.1, t_window=(0.0, 0.5))
    assert w.sizes["sample"] == 2 * 5  # both epochs, five bins each


def test_csv_with_a_utf8_bom_keeps_its_meta_line(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeff# spikedecode {\"t_stop\": 5.0, \"day\": 3}\ntime,unit\n0.1,a\n".encode())
    rec = sio.read(p)
    assert rec.attrs["t_stop"] == 5.0 and rec.attrs["day"] == 3
    q = tmp_path / "bom_plain.csv"  # a BOM before the header alone: the columns are found
    q.write_bytes("\ufefftime,unit\n0.1,a\n".encode())
    assert sio.read(q).spikedecode.n_spikes == 1


def test_cli_errors_exit_2_with_one_line(tmp_path, capsys):
    from spikedecode.cli import main

    rec_path = sio.write(_rec(), tmp_path / "r.nc")
    assert main(["decode", str(rec_path), "--n-boot", "-1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --n-boot == -1, must be an integer in [1, 1000000] (1,000-10,000 "
                   "bootstrap replicates are plenty for a 95 % CI)."]
