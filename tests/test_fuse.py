"""Fusion of stream bundles: damaged parts are refused naming the file; fused scores keep their ranks."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from stf.errors import DataError
from stf.evaluate import load_bundle, metrics_from_logits, write_bundle
from stf.fuse import fuse

from .conftest import REPO

JOINT = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
BONE = REPO / "docs" / "results" / "stf_ucla_xview_bone_cpu_seed0.eval"


def _edited_copy(src, dest, edit):
    """A copy of a real bundle whose logits.npz was rewritten by ``edit(dict of arrays)``."""
    shutil.copytree(src, dest)
    with np.load(dest / "logits.npz") as z:
        arrays = {k: z[k].copy() for k in z.files}
    edit(arrays)
    np.savez(dest / "logits.npz", **arrays)
    return dest


def _duplicate_row(z):  # the first sample once more, with other scores: which one would fusion take?
    z["ids"] = np.concatenate([z["ids"], z["ids"][:1]])
    z["logits"] = np.concatenate([z["logits"], -z["logits"][:1]])
    z["labels"] = np.concatenate([z["labels"], z["labels"][:1]])


def _set_logit(value):
    def edit(z):
        z["logits"][3, 2] = value
    return edit


def _label_out_of_range(z):
    z["labels"][0] = 10  # 10 classes: 0..9


DAMAGE = {"duplicate_id": (_duplicate_row, "sample id 'a01_s01_e00_v03' appears 2 times"),
          "nan_logit": (_set_logit(np.nan), r"non-finite logits \(NaN or inf\) for 1 sample\(s\), e.g. a01_s01_e03_v03"),
          "inf_logit": (_set_logit(np.inf), r"non-finite logits \(NaN or inf\) for 1 sample\(s\)"),
          "minus_inf_logit": (_set_logit(-np.inf), r"non-finite logits \(NaN or inf\) for 1 sample\(s\)"),
          "label_out_of_range": (_label_out_of_range, r"labels must be integers in -1\.\.9")}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_fuse_refuses_a_damaged_part_naming_its_file(damage, tmp_path):
    """A bundle with a duplicate id was fused silently (the last row won), NaN / inf logits gave NaN scores
    refused under the *output's* name (-inf passed), a label out of range crashed with an IndexError."""
    edit, message = DAMAGE[damage]
    bad = _edited_copy(BONE, tmp_path / "bone", edit)
    if damage == "label_out_of_range":  # the other part agrees on the label: only the range can catch it
        _edited_copy(JOINT, tmp_path / "joint", edit)
        joint = tmp_path / "joint"
    else:
        joint = JOINT
    with pytest.raises(DataError, match=message) as e:
        load_bundle(bad)
    assert str(bad / "logits.npz") in str(e.value)
    out = tmp_path / "fused"
    r = subprocess.run([sys.executable, "-m", "stf", "fuse", str(bad), str(joint), "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{bad / 'logits.npz'}: " in r.stderr and not out.exists(), r.stderr


def test_fuse_refuses_duplicate_ids_in_parts_not_read_from_disk():
    from stf.evaluate import Bundle

    a, b = load_bundle(JOINT), load_bundle(BONE)
    twice = Bundle(path=b.path, ids=np.concatenate([b.ids, b.ids[:1]]), logits=np.concatenate([b.logits, b.logits[:1]]),
                   labels=np.concatenate([b.labels, b.labels[:1]]), metrics=b.metrics)
    with pytest.raises(DataError, match="appears 2 times"):
        fuse([a, twice])
    nan = Bundle(path=b.path, ids=b.ids, logits=np.where(np.arange(10) == 2, np.nan, b.logits), labels=b.labels,
                 metrics=b.metrics)
    with pytest.raises(DataError, match="non-finite logits"):
        fuse([a, nan])


def test_fused_scores_keep_the_ranks_of_unlikely_classes(tmp_path):
    """Fused scores were clipped at 1e-12 before the log: with confident streams (the shipped logits at 10x
    the scale, as a longer-trained model gives) every class below it tied, so top-5 (and the bundle's
    top5) depended on argsort's tie order; the fused log-scores are now exact (log-sum-exp)."""
    parts = []
    for name, src in (("joint", JOINT), ("bone", BONE)):
        b = load_bundle(src)
        parts.append(load_bundle(write_bundle(tmp_path / name, b.ids.tolist(), 10 * b.logits, b.labels,
                                              b.class_names, {**{k: b.metrics[k] for k in ("checkpoint", "data")},
                                                              "stream": name})))
    ids, fused, labels = fuse(parts, [0.7, 0.3])
    # the reference, in float64 and log space: log(0.7 softmax(joint) + 0.3 softmax(bone))
    ref = []
    for b, w in zip(parts, (0.7, 0.3)):
        pos = {s: i for i, s in enumerate(b.ids.tolist())}
        z = b.logits[[pos[s] for s in ids]].astype(np.float64)
        z = z - z.max(1, keepdims=True)
        ref.append(np.log(w) + z - np.log(np.exp(z).sum(1, keepdims=True)))
    ref = np.logaddexp(*ref)
    np.testing.assert_allclose(fused, ref, rtol=1e-5, atol=1e-4)
    names = parts[0].class_names
    assert metrics_from_logits(fused, labels, names)["top5"] == metrics_from_logits(ref, labels, names)["top5"]


def test_fuse_refuses_one_checkpoint_on_one_data_set_under_two_spellings(tiny_checkpoint, ucla_store, tmp_path):
    """The copy check keyed on data.spec: one checkpoint evaluated on ``ucla:nw-ucla`` and on the store
    converted from it (two spellings of one data set) was fused as two streams."""
    from stf.evaluate import evaluate

    a = evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", tmp_path / "a", device="cpu")
    b = evaluate(tiny_checkpoint, str(ucla_store.path), "xview/test", tmp_path / "b", device="cpu")
    ba, bb = load_bundle(a), load_bundle(b)
    assert ba.metrics["data"]["spec"] != bb.metrics["data"]["spec"]  # two spellings, one checkpoint
    assert ba.metrics["checkpoint"]["sha256"] == bb.metrics["checkpoint"]["sha256"]
    with pytest.raises(DataError, match=r"same checkpoint's scores .* on the same data and split as .*: a copy"):
        fuse([ba, bb])
    # the shipped bundle (spec ucla:nw-ucla relative, no source recorded) against the same checkpoint's
    # scores on the store spelling: one data set too
    shipped = load_bundle(JOINT)
    on_store = write_bundle(tmp_path / "store_spelling", shipped.ids.tolist(), shipped.logits, shipped.labels,
                            shipped.class_names, {"checkpoint": shipped.metrics["checkpoint"],
                                                  "data": bb.metrics["data"], "stream": "joint"})
    with pytest.raises(DataError, match="a copy"):
        fuse([shipped, load_bundle(on_store)])
    assert len(fuse([shipped, load_bundle(BONE)])[0]) == 464  # two streams are still fused


def test_fuse_refuses_a_fused_bundle_with_one_of_its_own_parts(tmp_path):
    """A fused bundle fused again with one of its parts counted that stream twice, silently."""
    from stf.fuse import fused_provenance

    joint, bone = load_bundle(JOINT), load_bundle(BONE)
    ids, logits, labels = fuse([joint, bone])
    jb = load_bundle(write_bundle(tmp_path / "jb", ids, logits, labels, joint.class_names,
                                  fused_provenance([joint, bone], None)))
    for parts in ([jb, joint], [bone, jb]):
        with pytest.raises(DataError, match="it would count twice") as e:
            fuse(parts)
        assert str(parts[0].path) in str(e.value) and str(parts[1].path) in str(e.value)  # both named
    # a copy of a part (same checkpoint, data and split) under another path is that part too
    copy = tmp_path / "joint_copy"
    shutil.copytree(JOINT, copy)
    with pytest.raises(DataError, match=f"is the same stream as .*{JOINT.name}, which {tmp_path / 'jb'} is fused from"):
        fuse([jb, load_bundle(copy)])
    r = subprocess.run([sys.executable, "-m", "stf", "fuse", str(jb.path), str(JOINT), "--out", str(tmp_path / "f")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "count twice" in r.stderr and not (tmp_path / "f").exists(), r.stderr
