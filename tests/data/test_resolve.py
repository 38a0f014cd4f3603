"""``--data`` resolution: FORMAT:PATH vs a converted directory, the conversion cache, the data root."""
from __future__ import annotations

import os

import numpy as np
import pytest

from stf.data import resolve, store
from stf.data.resolve import convert, open_dataset, parse_spec
from stf.errors import DataError
from tests.conftest import need_data

SBU_FILES = [("s01s02", "01", "001"), ("s01s02", "02", "001"), ("s02s03", "03", "001")]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("STF_CACHE_DIR", str(d))
    return d


@pytest.fixture
def conversions(monkeypatch):
    """Count calls to resolve.convert (the conversion behind a FORMAT:PATH)."""
    calls = []
    real = resolve.convert

    def counting(*a, **kw):
        calls.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(resolve, "convert", counting)
    return calls


@pytest.fixture
def sbu_src():
    return need_data("sbu-kinect-interaction")


@pytest.fixture
def mini_root(tmp_path, monkeypatch, sbu_src):
    """A data root holding a small SBU tree of symlinks to real files (nothing copied)."""
    real = sbu_src
    root = tmp_path / "root"
    for parts in SBU_FILES[:2]:
        d = root.joinpath("mini", *parts)
        d.mkdir(parents=True)
        (d / "skeleton_pos.txt").symlink_to(real.joinpath(*parts, "skeleton_pos.txt"))
    monkeypatch.setenv("STF_DATA_ROOT", str(root))
    return root


def _snapshot(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def test_parse_spec():
    assert parse_spec("ucla:nw-ucla") == ("ucla", "nw-ucla")
    assert parse_spec("SBU:/abs/sbu") == ("sbu", "/abs/sbu")
    assert parse_spec("runs/store") == (None, "runs/store")
    assert parse_spec("weird:name") == (None, "weird:name")  # not a known format: a plain path


def test_format_path_and_converted_dir_give_the_same_samples(cache, tmp_path, sbu_src):
    src = sbu_src
    via_spec = open_dataset("sbu:sbu-kinect-interaction")
    via_dir = open_dataset(convert("sbu", src, tmp_path / "converted").path)
    assert via_spec.path.parent == cache
    assert via_spec.ids == via_dir.ids and len(via_spec) == 282
    assert via_spec.splits == via_dir.splits and via_spec.class_names == via_dir.class_names
    np.testing.assert_array_equal(via_spec.labels, via_dir.labels)
    np.testing.assert_array_equal(np.asarray(via_spec.data), np.asarray(via_dir.data))
    for i in (0, 100, 281):
        assert via_spec[i].meta == via_dir[i].meta


def test_absolute_format_path(cache, monkeypatch, sbu_src):
    monkeypatch.delenv("STF_DATA_ROOT")
    assert len(open_dataset(f"sbu:{sbu_src}")) == 282


def test_cache_is_reused(cache, mini_root, conversions):
    first = open_dataset("sbu:mini")
    mtime = (first.path / "index.json").stat().st_mtime_ns
    second = open_dataset("sbu:mini")
    assert len(conversions) == 1
    assert second.path == first.path and (second.path / "index.json").stat().st_mtime_ns == mtime
    assert second.ids == ["s01s02_01_001", "s01s02_02_001"]


def test_reconverted_when_the_source_changes(cache, mini_root, conversions, sbu_src):
    first = open_dataset("sbu:mini")
    d = mini_root.joinpath("mini", *SBU_FILES[2])
    d.mkdir(parents=True)
    (d / "skeleton_pos.txt").symlink_to(sbu_src.joinpath(*SBU_FILES[2], "skeleton_pos.txt"))
    second = open_dataset("sbu:mini")
    assert len(conversions) == 2 and second.path != first.path
    assert second.ids == [("_".join(p)) for p in SBU_FILES]


def test_reconverted_when_the_converter_version_changes(cache, mini_root, conversions, monkeypatch):
    first = open_dataset("sbu:mini")
    monkeypatch.setattr(store, "CONVERTER_VERSION", store.CONVERTER_VERSION + 1)
    monkeypatch.setattr(resolve, "CONVERTER_VERSION", store.CONVERTER_VERSION)
    second = open_dataset("sbu:mini")
    assert len(conversions) == 2 and second.path != first.path
    assert second.index["converter_version"] == first.index["converter_version"] + 1
    assert open_dataset("sbu:mini").path == second.path and len(conversions) == 2


def test_nothing_written_under_the_data_root(cache):
    root = need_data()
    before = _snapshot(root)
    open_dataset("sbu:sbu-kinect-interaction")
    open_dataset("ucla:nw-ucla")
    assert _snapshot(root) == before
    assert not cache.resolve().is_relative_to(root.resolve())


def test_relative_path_without_data_root(cache, monkeypatch):
    monkeypatch.delenv("STF_DATA_ROOT", raising=False)
    with pytest.raises(DataError, match="relative data path but STF_DATA_ROOT is not set"):
        open_dataset("ucla:nw-ucla")


def test_missing_sources(cache, tmp_path, mini_root):
    with pytest.raises(DataError, match="no such file or directory") as ei:
        open_dataset("sbu:not-there")
    assert ei.value.where == str(mini_root / "not-there")
    with pytest.raises(DataError, match="no such data set; give a converted directory or FORMAT:PATH"):
        open_dataset(tmp_path / "nothing")
    with pytest.raises(DataError, match="not a converted data set"):
        open_dataset(mini_root / "mini")  # a source tree is not a store


def test_bad_source_is_not_cached(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("STF_DATA_ROOT", str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no sAAsBB/CC/RRR/skeleton_pos.txt files"):
        open_dataset("sbu:empty")
    assert not cache.exists() or list(cache.iterdir()) == []


def test_unknown_reader_option(cache, mini_root, tmp_path):
    with pytest.raises(DataError, match="format 'sbu' does not take the options \\['layout'\\]"):
        open_dataset("sbu:mini", layout="ntu25")
    with pytest.raises(DataError, match="unknown data format 'csv'"):
        convert("csv", mini_root, tmp_path / "x")


def test_a_dangling_symlink_does_not_hide_the_data_set(cache, mini_root):
    """A broken link in a source tree made FORMAT:PATH fail with 'No such file or directory' while
    `data convert` of the same tree worked; the signature now notes it and the reader decides."""
    (mini_root / "mini" / "README.txt").symlink_to(mini_root / "gone.txt")
    store = open_dataset("sbu:mini")
    assert len(store) == 2


def test_a_damaged_cache_entry_says_how_to_renew_it(cache, mini_root, conversions):
    first = open_dataset("sbu:mini")
    (first.path / "data.npy").write_bytes(b"")
    with pytest.raises(DataError) as ei:
        open_dataset("sbu:mini")
    assert ei.value.where == str(first.path / "data.npy") and len(conversions) == 1
    assert ei.value.problem == f"empty file (a damaged cached conversion of sbu:mini: delete {first.path} and the " \
                               "next run converts it again)"
    import shutil

    shutil.rmtree(first.path)
    assert open_dataset("sbu:mini").ids == first.ids and len(conversions) == 2


def test_a_conversion_another_process_finished_first_is_opened_not_replaced(cache, mini_root, monkeypatch):
    """Two processes convert the same FORMAT:PATH at once: the one that finishes second opens the first one's
    cached store (it used to move that store aside and put its own in its place, under the other's feet)."""
    real = store.write_store
    winner = {}

    def racing(dest, samples, **kw):
        items = list(samples)

        def meanwhile():
            yield items[0]
            real(dest, items, **kw)  # the other process finishes while this one is still writing
            winner["inode"] = os.stat(os.path.join(dest, "index.json")).st_ino
            yield from items[1:]

        return real(dest, meanwhile(), **kw)

    monkeypatch.setattr(resolve, "write_store", racing)
    s = open_dataset("sbu:mini")
    assert len(s) == 2 and os.stat(s.path / "index.json").st_ino == winner["inode"]
    assert sorted(p.name for p in cache.iterdir()) == [s.path.name]  # nothing left aside
