"""NTU RGB+D ``.skeleton`` reader: equality with SGN's intermediate pickle, the 12 real files, data sets
(missing-skeleton list, splits, CLI conversion), edge cases built from real files, bad input, and the
reader benchmark."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stf.bench import reader as bench_reader
from stf.data import ntu
from stf.errors import DataError
from tests.conftest import REPO, need_data

RAW = "ntu-raw-skeleton-samples"
SKEL = (RAW, "nturgb+d_skeletons")
# SOURCE.md's table: file, bodies, frames
TABLE = [
    ("S001C001P001R001A001", 1, 103), ("S001C001P001R001A011", 1, 82), ("S001C001P001R001A050", 2, 74),
    ("S001C003P008R002A058", 2, 70), ("S002C001P003R001A003", 1, 100), ("S003C001P015R001A034", 1, 71),
    ("S004C002P003R001A017", 1, 124), ("S017C003P020R002A054", 2, 42), ("S017C003P020R002A055", 2, 66),
    ("S017C003P020R002A056", 2, 80), ("S017C003P020R002A057", 2, 76), ("S017C003P020R002A058", 2, 65),
]
TWO_BODIES = "S001C001P001R001A050"


def _file(name: str) -> Path:
    return need_data(*SKEL, f"{name}.skeleton")


def _frames(text: str) -> tuple[list[list[list[str]]], list[str]]:
    """The test's own line-based parse: frames as lists of 27-line body blocks, and the trailing lines."""
    lines = text.split("\n")
    at, frames = 1, []
    for _ in range(int(lines[0])):
        count = int(lines[at])
        at += 1
        frames.append([lines[at + 27 * b: at + 27 * (b + 1)] for b in range(count)])
        at += 27 * count
    return frames, lines[at:]


def _write(path: Path, frames: list[list[list[str]]]) -> Path:
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for block in bodies:
            out += block
    path.write_text("\n".join(out) + "\n")
    return path


def _joints(block: list[str]) -> np.ndarray:
    """(25, 3) float32 x, y, z of one body block (the test's own parse)."""
    return np.array([[float(v) for v in line.split()[:3]] for line in block[2:]], np.float32)


def _with_id(block: list[str], body_id: str) -> list[str]:
    return [" ".join([body_id] + block[0].split()[1:])] + block[1:]


# --- SGN's intermediate output --------------------------------------------------------------------
def test_equals_sgn_get_raw_skes_data_output():
    oracle_path = need_data(RAW, "sgn_ctrgcn_intermediate", "raw_skes_data.pkl")
    with open(oracle_path, "rb") as fh:  # a trusted fixture: the script's own pickle
        oracle = pickle.load(fh)
    assert [o["name"] for o in oracle] == ["S001C001P001R001A001"] + [f"S017C003P020R002A05{i}" for i in (4, 5, 6, 7)]
    for expected in oracle:
        got = ntu.read_raw_bodies(_file(expected["name"]))
        assert got["name"] == expected["name"] and got["num_frames"] == expected["num_frames"]
        assert got["dropped_frames"] == []
        assert list(got["data"]) == list(expected["data"])  # same ids, same order, strings
        for bid, body in expected["data"].items():
            ours = got["data"][bid]
            assert set(ours) == set(body), (expected["name"], bid)
            for key in ("joints", "colors"):
                assert ours[key].dtype == np.float32 and ours[key].shape == body[key].shape
                np.testing.assert_allclose(ours[key], body[key], rtol=1e-7, atol=0)
            assert ours["interval"] == body["interval"]
            if "motion" in body:
                np.testing.assert_allclose(ours["motion"], body["motion"], rtol=1e-6)


# --- the 12 real files ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,bodies,frames", TABLE)
def test_real_files(name, bodies, frames):
    s = ntu.read_file(_file(name))
    meta = ntu.parse_name(name)
    assert (s.sample_id, s.layout, s.channels) == (name, "ntu25", "xyz")
    assert s.data.shape == (2, frames, 25, 3) and s.data.dtype == np.float32
    assert s.label == meta["action"] - 1 and s.meta == meta
    assert int(s.person_mask.sum()) == bodies and s.person_mask[0]
    assert s.frame_mask.all()
    raw = ntu.read_raw_bodies(_file(name))
    assert len(raw["data"]) == bodies and raw["num_frames"] == frames
    assert (("motion" in next(iter(raw["data"].values()))) == (bodies > 1))


def test_first_file_values_and_label():
    s = ntu.read_file(_file("S001C001P001R001A001"))
    assert s.label == 0 and s.meta == {"setup": 1, "camera": 1, "performer": 1, "replication": 1, "action": 1}
    frames, _ = _frames(_file("S001C001P001R001A001").read_text())
    np.testing.assert_array_equal(s.data[0, 0], _joints(frames[0][0]))
    np.testing.assert_array_equal(s.data[0, -1], _joints(frames[-1][0]))
    assert not s.data[1].any()


def test_two_bodies_most_active_first():
    path = _file(TWO_BODIES)
    raw = ntu.read_raw_bodies(path)
    order = sorted(raw["data"].values(), key=lambda b: -b["motion"])
    s = ntu.read_file(path)
    for m, body in enumerate(order):
        np.testing.assert_array_equal(s.data[m], body["joints"].reshape(-1, 25, 3))


# --- edge cases built from a real file -------------------------------------------------------------
def test_empty_frames_are_dropped_and_gaps_kept(tmp_path):
    frames, _ = _frames(_file(TWO_BODIES).read_text())
    second_id = frames[0][1][0].split()[0]
    edited = [[]] + frames[:10] + [[]] + [[f[0]] for f in frames[10:20]] + frames[20:]  # B absent 10..19
    path = _write(tmp_path / f"{TWO_BODIES}.skeleton", edited)
    raw = ntu.read_raw_bodies(path)
    assert raw["dropped_frames"] == [0, 11] and raw["num_frames"] == len(frames)
    assert raw["data"][second_id]["interval"] == list(range(10)) + list(range(20, len(frames)))
    s = ntu.read_file(path)
    assert s.data.shape == (2, len(frames), 25, 3)
    m = [i for i in range(2) if np.array_equal(s.data[i, 0], _joints(frames[0][1]))][0]
    assert not s.data[m, 10:20].any() and s.data[m, 20:].any()
    np.testing.assert_array_equal(s.data[m, 25], _joints(frames[25][1]))


def test_three_bodies_keep_the_two_most_active(tmp_path):
    frames, _ = _frames(_file(TWO_BODIES).read_text())
    # a third body whose 25 joints sit on one fixed point in every frame: zero motion
    block = _with_id(frames[0][0], "42")
    point = " ".join(["0.5", "0.25", "2"] + block[2].split()[3:])
    still = block[:2] + [point] * 25
    path = _write(tmp_path / "three.skeleton", [bodies + [still] for bodies in frames])
    raw = ntu.read_raw_bodies(path)
    motion = {bid: body["motion"] for bid, body in raw["data"].items()}
    assert list(motion)[-1] == "42" and motion["42"] == 0
    assert min(m for bid, m in motion.items() if bid != "42") > 1e-3
    s = ntu.read_file(path)
    kept = sorted((b for bid, b in raw["data"].items() if bid != "42"), key=lambda b: -b["motion"])
    for m, body in enumerate(kept):
        np.testing.assert_array_equal(s.data[m], body["joints"].reshape(-1, 25, 3))
    assert s.label is None and s.meta == {}  # not an NTU sample name


def test_exponents_and_crlf_are_read(tmp_path):
    text = _file(TWO_BODIES).read_text()
    assert "E-05" in text  # the real file already holds exponent numbers
    frames, _ = _frames(text)
    block = frames[0][0]
    fields = block[2].split()
    fields[0] = "-8.514767E-01"
    frames[0][0] = block[:2] + [" ".join(fields)] + block[3:]
    path = _write(tmp_path / "e.skeleton", frames)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    s = ntu.read_file(path)
    np.testing.assert_array_equal(s.data, ntu.read_file(_file(TWO_BODIES)).data)


# --- number conversion ---------------------------------------------------------------------------
DIGITS = {n: st.text("0123456789", min_size=n, max_size=n) for n in range(13)}
NUMBER = st.builds(
    lambda sign, whole, point, fraction, exponent: (sign + whole + point + fraction + exponent).encode(),
    st.sampled_from(["", "-", "+"]), st.integers(0, 7).flatmap(DIGITS.get), st.sampled_from([".", ""]),
    st.integers(0, 12).flatmap(DIGITS.get), st.sampled_from(["", "", "", "e5", "E-05", "e+1"]),
).filter(lambda t: t.strip(b"+-"))


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(tokens=st.lists(NUMBER, min_size=1, max_size=40), gaps=st.sampled_from([b" ", b"\n", b"\r\n", b" \t "]))
def test_vectorised_numbers_equal_float(tokens, gaps):
    buf = bytearray(b" " * ntu._DOT + gaps.join(tokens) + b" " * ntu._WIN)
    starts = ntu._Tokens(buf, Path("x")).starts
    assert len(starts) == len(tokens)
    values, ok = ntu._parse_numbers(np.frombuffer(buf, np.uint8), starts)
    for token, value, fast in zip(tokens, values, ok):
        if fast:  # what the fast path accepts, it converts exactly as float() does
            assert value == float(token) and np.signbit(value) == np.signbit(float(token)), token
        # the fast path takes exactly the plain decimals that fit the windows
        assert fast == (_plain_decimal(token) and len(token) < ntu._WIN), token


def _plain_decimal(token: bytes) -> bool:
    """[-]digits[.digits], at most 5 digits before the point and 10 after, at least one digit."""
    whole, _, fraction = token.removeprefix(b"-").partition(b".")
    return (whole + fraction).isdigit() and len(whole) <= 5 and len(fraction) <= 10


# --- bad input ---------------------------------------------------------------------------------------
def _edit(path: Path, old: bytes, new: bytes) -> bytes:
    raw = path.read_bytes()
    assert old in raw
    return raw.replace(old, new, 1)


BAD = [
    (lambda raw: b"", "empty file"),
    (lambda raw: b"0\n", "zero frames"),
    (lambda raw: b"   \n\n", "empty file"),
    (lambda raw: b"1000000000" + raw[raw.index(b"\n"):], "declares 1000000000 frames"),
    (lambda raw: b"-74" + raw[raw.index(b"\n"):], "negative"),
    (lambda raw: b"7.4" + raw[raw.index(b"\n"):], "not a whole number"),
    (lambda raw: raw.replace(b"\n2\n", b"\n999999\n", 1), "declares 999999 bodies"),
    (lambda raw: raw.replace(b"\n25\n", b"\n24\n", 1), "has 24 joints"),
    (lambda raw: raw.replace(b"\n25\n", b"\n2500000000\n", 1), "has 2500000000 joints"),
    (lambda raw: raw + b"0.5 1\n", "2 unexpected numbers after the 74 declared frames"),
    (lambda raw: raw.replace(b"0.1916033", b"nan", 1), "unexpected character 'n'"),
    (lambda raw: raw.replace(b"0.1916033", b"inf", 1), "unexpected character 'i'"),
    (lambda raw: raw.replace(b"0.1916033", b"1e999", 1), "number '1e999' at line 5 is not finite"),
    (lambda raw: raw.replace(b"0.1916033", b"-4e38", 1), "number '-4e38' at line 5 is not finite in float32"),
    (lambda raw: raw.replace(b"0.1916033", b"1.9.16", 1), "malformed number '1.9.16'"),
    (lambda raw: raw.replace(b"0.1916033", b"\xff\xfe", 1), "non-ASCII byte 0xff"),
    (lambda raw: raw.replace(b"0.1916033", b"0.19\x0016", 1), "unexpected character"),
    (lambda raw: raw.replace(b"72057594037932185", b"7.2e16", 1), "body id '7.2e16'"),
    (lambda raw: raw.replace(b"72057594037932185", b"720575940379321850000", 1), "at most 20 digits"),
    (lambda raw: raw.replace(b"72057594037932127", b"72057594037932185", 1), "appears twice"),
    (lambda raw: b"2\n0\n0\n", "no body in any of the 2 frames"),
]


@pytest.mark.parametrize("edit,problem", BAD)
def test_bad_files(tmp_path, edit, problem):
    path = tmp_path / f"{TWO_BODIES}.skeleton"
    path.write_bytes(edit(_file(TWO_BODIES).read_bytes()))
    with pytest.raises(DataError, match=problem.replace(".", r"\.")) as info:
        ntu.read_file(path)
    assert info.value.where == str(path)


def test_integer_spellings_of_counts_are_accepted(tmp_path):
    path = tmp_path / f"{TWO_BODIES}.skeleton"
    raw = _file(TWO_BODIES).read_bytes()
    path.write_bytes(raw.replace(b"\n25\n", b"\n025\n").replace(b"\n2\n", b"\n+2\n", 3))
    np.testing.assert_array_equal(ntu.read_file(path).data, ntu.read_file(_file(TWO_BODIES)).data)


def test_malformed_numbers_chain_the_cause(tmp_path):
    path = tmp_path / "m.skeleton"
    path.write_bytes(_edit(_file(TWO_BODIES), b"0.1916033", b"0-1916033"))
    with pytest.raises(DataError) as info:
        ntu.read_file(path)
    assert isinstance(info.value.__cause__, ValueError)


def test_missing_file_directory_and_size_limit(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="cannot open"):
        ntu.read_file(tmp_path / "nope.skeleton")
    with pytest.raises(DataError, match="not a regular file"):
        ntu.read_file(tmp_path)
    monkeypatch.setattr("stf.data.base.MAX_FILE_BYTES", 1000)
    with pytest.raises(DataError, match="above the 1000-byte limit"):
        ntu.read_file(_file(TWO_BODIES))


# --- class names, missing list, splits -----------------------------------------------------------------
def test_class_names_match_the_label_maps():
    for n, names in ((60, ntu.CLASS_NAMES_60), (120, ntu.CLASS_NAMES_120)):
        listed = need_data(RAW, "metadata", f"label_map_ntu{n}.txt").read_text(encoding="utf-8").splitlines()
        assert names == listed


def test_embedded_missing_lists_equal_the_official_ones():
    for n in (60, 120):
        official = need_data(RAW, "metadata", ntu.MISSING_FILES[n])
        assert ntu.embedded_missing(n) == ntu.read_missing_list(official)
    assert len(ntu.embedded_missing(60)) == 302 and len(ntu.embedded_missing(120)) == 535


def _link_dir(tmp_path: Path, extra: dict[str, str]) -> Path:
    """tmp_path/skel: symlinks to the 12 real files, plus ``extra`` {new name: real name} links."""
    d = tmp_path / "skel"
    d.mkdir()
    for name, _, _ in TABLE:
        (d / f"{name}.skeleton").symlink_to(_file(name))
    for new, old in extra.items():
        (d / f"{new}.skeleton").symlink_to(_file(old))
    return d


def _outcome(ds) -> dict[str, str]:
    """sample id (file stem) -> "ok" or the DataError's problem."""
    out = {}
    for item in ds.samples():
        if isinstance(item, DataError):
            out[Path(item.where).stem] = item.problem
        else:
            out[item.sample_id] = "ok"
    return out


def test_missing_skeleton_samples_are_reported_as_skipped(tmp_path):
    listed = "S001C002P005R002A008"  # first entry of the official NTU 60 list
    d = _link_dir(tmp_path, {listed: TWO_BODIES})
    ds = ntu.read_dataset(d)  # no metadata/ folder here: the embedded list applies
    out = _outcome(ds)
    assert "missing skeletons" in out[listed] and "embedded" in out[listed]
    assert sum(v == "ok" for v in out.values()) == 12
    assert all(listed not in part for parts in ds.splits.values() for part in parts.values())
    assert _outcome(ntu.read_dataset(d, missing="none"))[listed] == "ok"
    # a metadata/ folder next to the skeleton folder wins over the embedded list
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / ntu.MISSING_FILES[60]).write_text("S001C001P001R001A001\n")
    out = _outcome(ntu.read_dataset(d))
    assert "missing skeletons" in out["S001C001P001R001A001"] and out[listed] == "ok"
    custom = tmp_path / "mine.txt"
    custom.write_text("S017C003P020R002A054\n")
    out = _outcome(ntu.read_dataset(d, missing=str(custom)))
    assert str(custom) in out["S017C003P020R002A054"] and out["S001C001P001R001A001"] == "ok"
    custom.write_text("not a name\n")
    with pytest.raises(DataError, match="not a list of NTU sample names"):
        ntu.read_dataset(d, missing=str(custom))


def test_real_metadata_folder_is_found():
    ds = ntu.read_dataset(need_data(RAW), ntu="120")  # the parent of nturgb+d_skeletons/
    out = _outcome(ds)
    assert out == {name: "ok" for name, _, _ in TABLE}
    assert ds.extra == {"max_persons": 2, "notes": []} and ds.name == "ntu120" and len(ds.class_names) == 120


@pytest.mark.parametrize("name,protocol,ntu_version,part", [
    ("S001C001P001R001A001", "xsub", 60, "train"), ("S001C001P003R001A001", "xsub", 60, "test"),
    ("S001C001P038R001A001", "xsub", 60, "train"), ("S001C001P040R001A001", "xsub", 60, "test"),
    ("S001C001P001R001A001", "xview", 60, "test"), ("S001C002P001R001A001", "xview", 60, "train"),
    ("S001C003P003R001A001", "xview", 60, "train"),
    ("S020C001P045R001A100", "xsub", 120, "train"), ("S020C001P044R001A100", "xsub", 120, "test"),
    ("S020C001P103R001A100", "xsub", 120, "train"), ("S020C001P106R001A100", "xsub", 120, "test"),
    ("S020C001P003R001A100", "xset", 120, "train"), ("S019C001P001R001A100", "xset", 120, "test"),
])
def test_split_of(name, protocol, ntu_version, part):
    assert ntu.split_of(ntu.parse_name(name), protocol, ntu_version) == part


def test_split_protocols_per_version():
    meta = ntu.parse_name("S001C001P001R001A001")
    with pytest.raises(DataError, match="no protocol 'xset'"):
        ntu.split_of(meta, "xset", 60)
    with pytest.raises(DataError, match="no protocol 'xview'"):
        ntu.split_of(meta, "xview", 120)
    assert len(ntu.XSUB60_TRAIN) == 20 and len(ntu.XSUB120_TRAIN) == 53


def test_dataset_splits_and_ntu60_filter_on_names(tmp_path):
    names = ["S001C001P001R001A001", "S001C002P003R001A060", "S017C003P040R002A010",
             "S018C001P001R001A001", "S002C001P001R001A061", "S032C003P106R002A120"]
    for n in names + ["README"]:
        (tmp_path / f"{n}.skeleton").write_text("")
    ds60 = ntu.read_dataset(tmp_path, ntu=60)
    assert ds60.splits == {"xsub": {"train": ["S001C001P001R001A001"],
                                    "test": ["S001C002P003R001A060", "S017C003P040R002A010"]},
                           "xview": {"train": ["S001C002P003R001A060", "S017C003P040R002A010"],
                                     "test": ["S001C001P001R001A001"]}}
    assert ds60.num_samples == 4  # three NTU 60 names + the unparseable one
    out = _outcome(ds60)
    assert "not an NTU sample name" in out["README"]
    assert "empty file" in out["S001C001P001R001A001"]
    ds120 = ntu.read_dataset(tmp_path, ntu="120")
    assert sorted(ds120.splits["xset"]["train"]) == ["S002C001P001R001A061", "S018C001P001R001A001",
                                                     "S032C003P106R002A120"]
    assert sorted(ds120.splits["xset"]["test"]) == ["S001C001P001R001A001", "S001C002P003R001A060",
                                                    "S017C003P040R002A010"]
    assert sorted(ds120.splits["xsub"]["test"]) == ["S001C002P003R001A060", "S017C003P040R002A010",
                                                    "S032C003P106R002A120"]
    assert ds120.num_samples == 7 and ds60.class_names == ntu.CLASS_NAMES_60


def test_ntu60_says_how_many_ntu120_files_it_left_out(tmp_path):
    """Real files, two of them linked under NTU 120-only names: the default (NTU 60) reads 12 and says
    it left 2 out and how to read them; a folder of only NTU 120 files is refused with the same hint."""
    d = _link_dir(tmp_path, {"S018C001P008R001A001": "S001C001P001R001A001",
                             "S002C001P003R001A061": "S002C001P003R001A003"})
    ds = ntu.read_dataset(d)
    assert ds.extra["notes"] == ["read as NTU 60: left out 2 of 14 files that only NTU 120 has (setup > S017 or "
                                 "action > A060); --opt ntu=120 reads them"]
    r = _cli("data", "convert", "--format", "ntu", str(d), str(tmp_path / "s60"))
    assert r.returncode == 0, r.stderr
    assert "wrote 12 samples (60 classes" in r.stdout and "note: read as NTU 60: left out 2 of 14" in r.stdout
    assert "note: read as NTU 60" in _cli("data", "info", str(tmp_path / "s60")).stdout
    assert not ntu.read_dataset(d, ntu=120).extra["notes"]
    only = tmp_path / "only120"
    only.mkdir()
    (only / "S018C001P008R001A001.skeleton").symlink_to(_file("S001C001P001R001A001"))
    with pytest.raises(DataError, match=r"all 1 .skeleton files are NTU 120 only .* pass --opt ntu=120"):
        ntu.read_dataset(only)


def test_read_dataset_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="expected 60 or 120"):
        ntu.read_dataset(tmp_path, ntu="90")
    with pytest.raises(DataError, match="unknown option"):
        ntu.read_dataset(tmp_path, layout="ntu25")
    with pytest.raises(DataError, match="no .skeleton files"):
        ntu.read_dataset(tmp_path)
    with pytest.raises(DataError, match="not a directory"):
        ntu.read_dataset(tmp_path / "nope")


# --- command line ------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stf", *args], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_cli_convert_then_info(tmp_path):
    src = need_data(*SKEL)
    dest = tmp_path / "ntu-store"
    r = _cli("data", "convert", "--format", "ntu", str(src), str(dest), "--opt", "ntu=120")
    assert r.returncode == 0, r.stderr
    assert "wrote 12 samples (120 classes, layout ntu25)" in r.stdout and "skipped 0" in r.stdout
    r = _cli("data", "info", str(dest), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["samples"] == 12 and info["max_persons"] == 2 and info["layout"] == "ntu25"
    assert info["frames"]["total"] == sum(f for _, _, f in TABLE)
    assert info["splits"] == {"xsub/train": 5, "xsub/test": 7, "xset/train": 2, "xset/test": 10}
    assert info["per_class"]["handshaking"] == 2 and info["per_class"]["drink water"] == 1
    r = _cli("data", "convert", "--format", "ntu", str(src), str(tmp_path / "x"), "--opt", "ntu=90")
    assert r.returncode == 2 and "expected 60 or 120" in r.stderr and "Traceback" not in r.stderr


# --- benchmark -----------------------------------------------------------------------------------------
def test_bench_reader_prints_figures(capsys):
    root = need_data(*SKEL)
    assert bench_reader.main(["--root", str(root), "--runs", "1", "--baseline"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"12 files, {sum(f.stat().st_size for f in root.glob('*.skeleton')) / 1e6:.2f} MB")
    for name in ("read_file", "read_raw_bodies", "line-by-line baseline"):
        assert any(line.startswith(name) and "files/s" in line and "MB/s" in line for line in out.splitlines())
    assert "read_file is " in out and "x the baseline's speed" in out


def test_baseline_parser_agrees_with_the_reader():
    path = _file(TWO_BODIES)
    base, ours = bench_reader.line_by_line_bodies(path), ntu.read_raw_bodies(path)["data"]
    assert list(base) == list(ours)
    for bid in base:
        np.testing.assert_array_equal(base[bid]["joints"], ours[bid]["joints"])
        assert base[bid]["motion"] == ours[bid]["motion"]
