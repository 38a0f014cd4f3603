"""safe_pickle: allowed containers / numpy round-trip, everything else refused without running it."""
from __future__ import annotations

import builtins
import os
import pickle
import subprocess

import numpy as np
import pytest

from stf.data.safe_pickle import safe_load
from stf.errors import DataError
from tests.conftest import need_data


class _Payload:
    """Pickles as a call of ``func(*args)``: what a hostile annotation file does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _marker_cmd(marker) -> str:
    return f"open({str(marker)!r}, 'w').close()"


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_containers_and_numpy_round_trip(protocol):
    obj = {
        "keypoint": np.arange(24, dtype=np.float16).reshape(1, 2, 3, 4),
        "score": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)[:, ::2],  # non-contiguous
        "big_endian": np.arange(3, dtype=">f8"),
        "scalars": (np.int64(7), np.float32(0.5)),
        "names": ["a", "b"], "ids": {1, 2}, "raw": b"\x00\xff", "flag": True, "none": None, "pi": 3.25,
    }
    raw = pickle.dumps(obj, protocol=protocol)
    out, expected = safe_load(raw), pickle.loads(raw)  # our own bytes: plain pickle is the reference
    assert set(out) == set(obj)
    for k in ("keypoint", "score", "big_endian"):
        assert out[k].dtype == expected[k].dtype and np.array_equal(out[k], obj[k])
    assert out["scalars"] == obj["scalars"] and type(out["scalars"][0]) is np.int64
    assert (out["names"], out["ids"], out["raw"], out["flag"], out["none"], out["pi"]) == \
        (["a", "b"], {1, 2}, b"\x00\xff", True, None, 3.25)


def test_real_pyskl_file_loads():
    path = need_data("paddlevideo-skeleton-samples", "example_UCF101_skeleton.pkl")
    ann = safe_load(path)  # written by numpy 1.x: numpy.core.multiarray._reconstruct, protocol 3
    assert ann["keypoint"].shape == (2, 163, 17, 2) and ann["keypoint"].dtype == np.float16
    assert ann["keypoint_score"].shape == (2, 163, 17)
    assert ann["frame_dir"] == "v_ApplyEyeMakeup_g01_c01" and ann["total_frames"] == 163 and ann["label"] == 0


@pytest.mark.parametrize("func, refused", [
    (builtins.exec, "builtins.exec"),
    (builtins.eval, "builtins.eval"),
    (os.system, f"{os.system.__module__}.system"),
    (subprocess.call, "subprocess.call"),
])
@pytest.mark.parametrize("protocol", [2, 5])
def test_malicious_pickle_is_refused_without_running(tmp_path, func, refused, protocol):
    marker = tmp_path / "pwned"
    if func in (builtins.exec, builtins.eval):
        payload = _Payload(func, _marker_cmd(marker))
    elif func is os.system:
        payload = _Payload(func, f"touch {marker}")
    else:
        payload = _Payload(func, ["touch", str(marker)])
    raw = pickle.dumps({"annotations": [payload]}, protocol=protocol)
    path = tmp_path / "evil.pkl"
    path.write_bytes(raw)
    with pytest.raises(DataError) as ei:
        safe_load(path)
    assert refused in str(ei.value) and str(path) in str(ei.value)
    assert not marker.exists()


def test_the_payload_would_have_run(tmp_path):
    """Control for the test above: plain pickle runs the same kind of payload."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(builtins.exec, _marker_cmd(marker))))
    assert marker.exists()


@pytest.mark.parametrize("raw, problem", [
    # numpy.ndarray((10**9,)) called directly: would allocate a gigabyte the file does not contain
    (b"\x80\x02cnumpy\nndarray\nJ\x00\xca\x9a;\x85R.", "corrupt"),
    # _reconstruct with a real shape instead of numpy's (0,) placeholder
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a;\x85U\x01b\x87R.", "shape"),
    # _reconstruct of another type than ndarray
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nc__builtin__\nlist\nK\x00\x85U\x01b\x87R.", "only numpy"),
    # _codecs.encode with a codec other than latin1
    (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.", "latin1"),
    # a persistent id
    (b"\x80\x02X\x01\x00\x00\x00aQ.", "persistent"),
])
def test_allowed_globals_cannot_be_abused(raw, problem):
    with pytest.raises(DataError) as ei:
        safe_load(raw)
    assert problem in str(ei.value)
    assert ei.value.__cause__ is not None


def test_other_numpy_globals_are_refused():
    raw = pickle.dumps(np.ma.masked_array([1.0, 2.0], mask=[0, 1]), protocol=2)
    with pytest.raises(DataError, match=r"numpy\.ma\.core\.\w+"):
        safe_load(raw)


def test_truncated_and_garbage_pickles(tmp_path):
    raw = pickle.dumps({"x": np.ones((4, 5), np.float32), "y": [1, 2, 3]}, protocol=2)
    for cut in (1, len(raw) // 3, len(raw) // 2, len(raw) - 1):
        with pytest.raises(DataError, match="corrupt or truncated") as ei:
            safe_load(raw[:cut], where="cut")
        assert ei.value.__cause__ is not None and ei.value.where == "cut"
    with pytest.raises(DataError) as ei:
        safe_load(b"this is not a pickle at all")
    assert ei.value.__cause__ is not None


def test_size_limit_and_missing_file(tmp_path):
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(list(range(1000))))
    with pytest.raises(DataError, match="above the 100-byte limit"):
        safe_load(path, max_bytes=100)
    with pytest.raises(DataError, match="above the 100-byte limit"):
        safe_load(path.read_bytes(), max_bytes=100)
    assert safe_load(path) == list(range(1000))
    with pytest.raises(DataError, match="cannot open"):
        safe_load(tmp_path / "missing.pkl")
