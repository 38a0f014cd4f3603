"""The ``mediapipe`` format: real extracted poses read as samples; broken pose files refused by name."""
from __future__ import annotations

import json
import struct
import zipfile

import numpy as np
import pytest

from stf.data import read_file
from stf.data.mediapipe import read_dataset
from stf.errors import DataError


def test_pose_file_as_a_sample(ntu_poses):
    s = read_file("mediapipe", ntu_poses["A007"])
    assert (s.layout, s.channels, s.sample_id) == ("mediapipe33", "xyz", "S004C003P003R001A007_rgb")
    assert s.label == 6 and s.meta["action"] == 7 and s.meta["setup"] == 4  # NTU's A007 "throw", 0-based
    assert s.data.shape == (1, 77, 33, 3) and s.frame_mask.all()
    hips = s.data[0, :, [23, 24]].mean(0)
    assert np.abs(hips).max() < 0.05  # world landmarks: origin mid-hip
    head_up = s.data[0, :, 0, 1] > s.data[0, :, 27, 1]
    assert head_up.all()  # y up: the nose above the ankles in every frame
    flat = read_file("mediapipe", ntu_poses["A007"], channels="xy+score")
    assert flat.channels == "xy+score" and 0 <= flat.data[..., 0].min() and flat.data[..., 0].max() <= 1920
    assert 0 <= flat.data[..., 2].min() and flat.data[..., 2].max() <= 1


def test_a_folder_of_ntu_named_poses_is_a_data_set(ntu_poses):
    src = read_dataset(ntu_poses["dir"])
    got = list(src.samples())
    assert src.layout == "mediapipe33" and len(src.class_names) == 120
    assert sorted(s.label for s in got) == [0, 6]


def _rewrite(src, dst, **changes):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(dst, **arrays)
    return dst


def test_broken_pose_files_are_refused(ntu_poses, tmp_path):
    src = ntu_poses["A001"]
    with np.load(src) as z:
        world, info = z["world"], json.loads(str(z["info"]))
    cases = {
        "no_image": ({"image": None}, "lacks image"),
        "nan": ({"world": np.where(np.arange(len(world))[:, None, None] == 5, np.nan, world).astype(np.float32)},
                "NaN or inf \\(first in frame 5\\)"),
        "nobody": ({"present": np.zeros(len(world), bool)}, "nobody was found in any of the 103 frames"),
        "shape": ({"world": world[:, :20]}, "expected \\(T, 33, 3\\)"),
        "version": ({"info": np.array(json.dumps(dict(info, version=2)))}, "version 2"),
        "other": ({"info": np.array(json.dumps({"format": "x"}))}, "format 'stf-pose'"),
    }
    for name, (changes, message) in cases.items():
        p = _rewrite(src, tmp_path / f"{name}.pose.npz", **changes)
        with pytest.raises(DataError, match=message) as e:
            read_file("mediapipe", p)
        assert str(p) in str(e.value), name
    cut = tmp_path / "cut.pose.npz"
    cut.write_bytes(src.read_bytes()[:2000])
    with pytest.raises(DataError, match="not a readable .npz file: no zip archive"):
        read_file("mediapipe", cut)
    noise = tmp_path / "noise.pose.npz"  # numpy would take it for a pickle and suggest allow_pickle
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="not a readable .npz file: no zip archive") as e:
        read_file("mediapipe", noise)
    assert "pickle" not in str(e.value)
    objs = tmp_path / "objects.pose.npz"
    np.savez(objs, world=np.array([{"a": 1}], dtype=object), image=world, present=np.ones(len(world), bool),
             info=np.array(json.dumps(info)))
    with pytest.raises(DataError, match=r"holds object \(pickled\) arrays, which are never loaded"):
        read_file("mediapipe", objs)
    with pytest.raises(DataError, match="channels 'xyzw'"):
        read_file("mediapipe", src, channels="xyzw")


def test_an_archive_that_inflates_past_the_limit_is_refused_before_loading(tmp_path, monkeypatch):
    """A 1.9 MB .npz of zeros took 2.2 GB and 11 s before failing; the members' sizes are checked first."""
    bomb = tmp_path / "bomb.pose.npz"
    np.savez_compressed(bomb, world=np.zeros((2_000_000,), np.float32))  # 8 MB inflated, a few kB on disk
    monkeypatch.setenv("STF_MAX_FILE_BYTES", "1000000")
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(DataError, match="its arrays inflate to 8000\\d+ bytes, above the 1000000-byte limit"):
        read_file("mediapipe", bomb)


def test_damaged_archives_are_refused_by_name(ntu_poses, tmp_path):
    """Bytes of a real pose file damaged in place escaped as zlib.error (its arrays are deflated),
    NotImplementedError ('zip file version'), RuntimeError ('encrypted'), tokenize.TokenError (a damaged
    .npy header) or MemoryError (a header declaring a huge shape), not as DataError."""
    src = ntu_poses["A001"]
    raw = src.read_bytes()
    with zipfile.ZipFile(src) as zf:
        world = zf.getinfo("world.npy")
    name_len, extra_len = struct.unpack("<HH", raw[world.header_offset + 26:world.header_offset + 30])
    data_at = world.header_offset + 30 + name_len + extra_len  # world.npy's deflated bytes
    central = raw.index(b"PK\x01\x02")  # the central directory's first entry
    cases = [(data_at + k, 0xFF) for k in range(0, 200, 7)]  # inside the deflate stream
    cases += [(central + 6, 0xFF), (central + 8, 0x01)]  # extract version 65+ ; "encrypted" flag bit
    causes = set()
    for at, mask in cases:
        bad = bytearray(raw)
        bad[at] ^= mask
        p = tmp_path / f"S001C001P001R001A001_rgb_{at}.pose.npz"
        p.write_bytes(bytes(bad))
        with pytest.raises(DataError, match="not a readable .npz file") as e:
            read_file("mediapipe", p)
        assert str(p) in str(e.value)
        causes.add(type(e.value.__cause__).__name__)
    assert {"error", "NotImplementedError", "RuntimeError"} <= causes  # zlib.error among them

    with np.load(src) as z:  # the same arrays stored (np.savez), its world header declaring 4e12 bytes
        arrays = {k: z[k] for k in z.files}
    stored = tmp_path / "stored.pose.npz"
    np.savez(stored, **arrays)
    raw = stored.read_bytes()
    shape = b"'shape': " + repr(arrays["world"].shape).encode()
    at = raw.index(shape)
    end = raw.index(b"\n", at)  # the header's padding runs up to its newline: keep its length
    for header in (b"'shape': (1000000000000,), }",  # MemoryError (or a failed read, memory overcommitted)
                   shape + b", "):  # the dict left open: tokenize.TokenError
        assert len(header) <= end - at
        stored.write_bytes(raw[:at] + header.ljust(end - at) + raw[end:])
        with pytest.raises(DataError, match="not a readable .npz file"):
            read_file("mediapipe", stored)
