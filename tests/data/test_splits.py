"""Split expressions (stf.data.splits) on real stores: they agree with the readers' stored splits, select
by meta, label, class and length, intersect with '&', and name what is wrong in a bad expression."""
from __future__ import annotations

import numpy as np
import pytest

from stf.data import open_dataset
from stf.data.splits import is_expression, select
from stf.errors import DataError
from tests.conftest import need_data


@pytest.fixture(scope="module")
def ntu_store():
    need_data("ntu-raw-skeleton-samples")
    return open_dataset("ntu:ntu-raw-skeleton-samples")


def _ids(store, split):
    return {store.ids[i] for i in store.split_indices(split)}


def test_conditions_reproduce_the_readers_splits(ucla_store):
    # NW-UCLA: cross-view trains on views 1-2; the validation protocol trains on view 1 and tests view 2
    assert _ids(ucla_store, "view=1|2") == _ids(ucla_store, "xview/train")
    assert _ids(ucla_store, "view>=3") == _ids(ucla_store, "xview/test")
    assert _ids(ucla_store, "view=1") == _ids(ucla_store, "xview-val/train")
    assert _ids(ucla_store, "view!=1 & view<3") == _ids(ucla_store, "xview-val/test")
    assert len(ucla_store.split_indices("view=3")) == 464


def test_label_class_frames_and_id(ucla_store):
    walk = ucla_store.class_names.index("walk around")
    by_label = ucla_store.split_indices(f"label={walk} & view=3")
    assert np.array_equal(by_label, ucla_store.split_indices("class=walk around & xview/test"))
    assert (ucla_store.labels[by_label] == walk).all() and len(by_label) > 0
    short = ucla_store.split_indices("frames<20")
    assert len(short) > 0 and (ucla_store.lengths[short] < 20).all()
    assert (ucla_store.lengths[np.setdiff1d(np.arange(len(ucla_store)), short)] >= 20).all()
    one = ucla_store.split_indices("id=a01_s01_e00_v01|a12_s09_e04_v03")
    assert [ucla_store.ids[i] for i in one] == ["a01_s01_e00_v01", "a12_s09_e04_v03"]


def test_ntu_dataset_shift_style_split(ntu_store):
    # the sample files hold setups 1-17; a shift split by setup keeps exactly the files of those setups
    early = _ids(ntu_store, "setup<=4 & action<=60")
    assert early == {i for i in ntu_store.ids if int(i[1:4]) <= 4 and int(i[-3:]) <= 60}
    assert len(early) == 7
    late = ntu_store.split_indices("setup>=18 & action<=60", allow_empty=True)
    assert late.size == 0
    with pytest.raises(DataError, match=r"'setup>=18 & action<=60' holds no samples"):
        ntu_store.split_indices("setup>=18 & action<=60")
    # a stored split intersected with a condition
    assert _ids(ntu_store, "xsub/train & camera=1") == {
        i for i in _ids(ntu_store, "xsub/train") if i[4:8] == "C001"}


def test_stored_splits_keep_their_order(ucla_store):
    stored = ucla_store.split_indices("xview/train")
    assert np.array_equal(np.sort(stored), select(ucla_store, "xview/train"))
    assert not is_expression("xview-val/test") and is_expression("view=1") and is_expression("a/b & c/d")


@pytest.mark.parametrize("split, message", [
    ("viw=1", r"split field 'viw' is in no sample's meta; fields: action, class, frames, id, label"),
    ("view<one", r"< needs a number, got 'one'"),
    ("view=1 &", r"an empty term around '&'"),
    ("view=1||2", r"an empty alternative"),
    ("xview/tst & view=1", r"no split 'xview/tst' in 'xview/tst & view=1'; stored splits: xview/train"),
    ("view=9", r"split 'view=9' holds no samples"),
    (3, r"a split is a string such as 'xview/test' or 'view=1\|2', got 3"),
])
def test_bad_expressions_are_clear(ucla_store, split, message):
    with pytest.raises(DataError, match=message):
        ucla_store.split_indices(split)


def test_sbu_folds_by_meta():
    need_data("sbu-kinect-interaction")
    store = open_dataset("sbu:sbu-kinect-interaction")
    for k in range(1, 6):
        assert _ids(store, f"fold={k}") == _ids(store, f"fold{k}/test")
        assert _ids(store, f"fold!={k}") == _ids(store, f"fold{k}/train")  # a sample with no fold is in neither
    assert _ids(store, "pair=s01s02 & action=1") == {i for i in store.ids if i.startswith("s01s02_01_")}


def test_a_split_typo_suggests_a_condition_the_store_can_take(ucla_store, ntu_store):
    """The hint is built from the store's own meta: 'view=1|2' on NW-UCLA; NTU's meta has no 'view' field."""
    with pytest.raises(DataError, match=r"no split 'xview/tst'; available: .*such as 'view=1\|2'"):
        ucla_store.split_indices("xview/tst")
    with pytest.raises(DataError, match=r"no split 'xveiw/test'; available: xsub/train, .*such as 'setup=1\|2'"):
        ntu_store.split_indices("xveiw/test")
    with pytest.raises(DataError, match=r"in 'xveiw/test & camera=1'; .*such as 'setup=1\|2'"):
        ntu_store.split_indices("xveiw/test & camera=1")


@pytest.mark.parametrize("split, message", [
    # '|' separates values of one field; a second condition after it used to be read as a value of the
    # first, so 'view=1 | view=2' silently selected view 1 only
    ("view=1 | view=2", r"'view=2' in 'view=1 \| view=2' is a condition, not a value of 'view'"),
    ("view=2|label=3", r"'label=3' .* is a condition, not a value of 'view'"),
    # '=<' / '=>' used to read as '=' with the value '<2' and say only that the split holds no samples
    ("view=<2", r"unknown operator '=<' in 'view=<2'"),
    ("view => 2", r"unknown operator '=>'"),
    # an order operator on a field with no number used to select nothing and say only 'holds no samples'
    ("class<3", r"'class' holds no numbers; '<' needs a numeric field"),
])
def test_syntax_mistakes_are_named(ucla_store, split, message):
    with pytest.raises(DataError, match=message):
        ucla_store.split_indices(split)


def test_an_id_with_an_equals_sign_is_still_a_value(ucla_store):
    # only a known field before the operator makes an alternative a condition
    assert ucla_store.split_indices("id=a01_s01_e00_v01|x=1", allow_empty=True).tolist() == [
        ucla_store.position("a01_s01_e00_v01")]


def test_surrounding_spaces_are_ignored(ucla_store):
    """A stored split name padded with spaces (a config value, a shell argument) names the same split."""
    assert np.array_equal(ucla_store.split_indices(" xview/test "), ucla_store.split_indices("xview/test"))
    assert len(ucla_store.split_indices(" all ")) == len(ucla_store)


def test_quoted_values_hold_ampersands_bars_and_spaces(tmp_path):
    """A user's own ids may hold '&' or '|' (file names such as 'push&pull'): quoting keeps them whole.
    Before quoting existed, 'id=push&pull_1' split into the terms 'id=push' and 'pull_1'."""
    import dataclasses

    from stf.data import ucla
    from stf.data.store import write_store

    root = need_data("nw-ucla", "all_sqe")
    real = [ucla.read_file(root / f"{i}.json") for i in ("a01_s01_e00_v01", "a06_s03_e01_v02", "a12_s09_e04_v03")]
    ids = ["push&pull_1", "a|b", " padded "]
    store = write_store(tmp_path / "s", [dataclasses.replace(s, sample_id=i) for s, i in zip(real, ids)],
                        name="t", source_format="test", source="mem", layout="kinect20", channels="xyz",
                        class_names=list(ucla.CLASS_NAMES), max_persons=1)
    assert _ids(store, 'id="push&pull_1"') == {"push&pull_1"}
    assert _ids(store, "id='a|b' | \"push&pull_1\"") == {"a|b", "push&pull_1"}
    assert _ids(store, 'id=" padded "') == {" padded "}
    assert _ids(store, "id!='a|b' & view=\"1\"") == {"push&pull_1"}  # a quoted number still compares as one
    assert _ids(store, "frames>'0' & id=\"a|b\"") == {"a|b"}
    with pytest.raises(DataError, match=r"an unclosed \" quote"):
        store.split_indices('id="push&pull_1')
    with pytest.raises(DataError, match="an empty alternative"):
        store.split_indices("id='a|b'|")
