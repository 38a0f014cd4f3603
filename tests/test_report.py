"""The cross-validation report over several seeds, on a hand-checkable case; which bundles the reports
compare (one data set by identity, however it was named), on real bundles of real data.

(Reports of real bundles are also checked in test_evaluate.py and test_readme_results.py.)
"""
import pytest

from stf.errors import ConfigError
from stf.report import cv_table, mcnemar_exact
from tests.conftest import REPO


def _row(kind, seed, fold, flags):
    ids = [f"f{fold}_s{i}" for i in range(len(flags))]  # the same samples at every seed
    return {"path": f"{kind}-{seed}-{fold}.eval", "kind": kind, "seed": seed, "stream": "joint",
            "data": "sbu:x", "split": f"fold{fold}/test", "n": len(flags),
            "top1": 100 * sum(flags) / len(flags), "correct": dict(zip(ids, flags))}


def test_cv_report_over_two_seeds():
    rows = [
        # seed 0: fold1 STF 2/4, backbone 3/4; fold2 STF 4/4, backbone 2/4
        _row("STF", 0, 1, [1, 1, 0, 0]), _row("backbone", 0, 1, [1, 1, 1, 0]),
        _row("STF", 0, 2, [1, 1, 1, 1]), _row("backbone", 0, 2, [1, 0, 1, 0]),
        # seed 1: fold1 STF 1/4, backbone 4/4; fold2 STF 2/4, backbone 2/4; fold3 only STF
        _row("STF", 1, 1, [0, 0, 1, 0]), _row("backbone", 1, 1, [1, 1, 1, 1]),
        _row("STF", 1, 2, [1, 0, 0, 1]), _row("backbone", 1, 2, [0, 1, 1, 0]),
        _row("STF", 1, 3, [1, 1]),
    ]
    text = cv_table(rows)
    assert text.index("**seed 0**") < text.index("**seed 1**") < text.index("| STF − backbone | fold1/test")
    # per-seed tables as before: seed 1's mean and pooled cover the two folds both models have
    assert "mean and pooled over the 2 folds both models have: fold1/test, fold2/test" in text
    # over seeds, only fold1 and fold2 (fold3 lacks the backbone): seed 0 pooled STF 6/8 = 75 %, backbone
    # 5/8 = 62.5 % (+12.50); discordant: fold1 0 / 1, fold2 2 / 0 -> 2 / 1
    p01 = mcnemar_exact(2, 1)
    assert f"| seed 0 | -25.00 | +50.00 | +12.50 | 75.00 | 62.50 | 2 / 1 (p = {p01:.2f}) |" in text
    # seed 1: STF 3/8 = 37.5 %, backbone 6/8 = 75 % (-37.50); fold1 0 / 3, fold2 2 / 2 -> 2 / 5
    assert f"| seed 1 | -75.00 | +0.00 | -37.50 | 37.50 | 75.00 | 2 / 5 (p = {mcnemar_exact(2, 5):.2f}) |" in text
    # means over seeds: fold1 -50 ± 35.36, fold2 +25 ± 35.36, pooled -12.5 ± 35.36
    assert "| mean ± std over 2 seeds | -50.00 ± 35.36 | +25.00 ± 35.36 | -12.50 ± 35.36 | 56.25 ± 26.52 | " \
           "68.75 ± 8.84 | – |" in text
    assert "on the folds every seed has for both models (fold1/test, fold2/test; 8 test samples)" in text


def test_cv_report_refuses_a_repeated_fold_within_a_seed_only():
    rows = [_row("STF", 0, 1, [1, 0]), _row("backbone", 0, 1, [1, 1])]
    with pytest.raises(ConfigError, match=r"two STF bundles of split 'fold1/test' and seed 0"):
        cv_table(rows + [_row("STF", 0, 1, [0, 0])])
    assert "**seed 1**" in cv_table(rows + [_row("STF", 1, 1, [0, 0])])  # another seed is fine
    assert "Over seeds: no fold has both models at every seed yet." in cv_table(rows + [_row("STF", 1, 1, [0, 0])])


# -- which bundles are comparable: real bundles of real data --------------------------------------------

SBU = "sbu-kinect-interaction"


@pytest.fixture(scope="module")
def sbu_checkpoint(tmp_path_factory):
    """A tiny STF checkpoint trained on SBU fold 1 (seed 1; its config name is the NW-UCLA tiny config's)."""
    from stf.checkpoint import build_tiny_checkpoint
    from tests.conftest import need_data

    need_data(SBU)
    return build_tiny_checkpoint(tmp_path_factory.mktemp("sbu") / "run", data=f"sbu:{SBU}", seed=1,
                                 train_split="fold1/train")


def _as_written_before(bundle, drop=("source_format", "source")) -> str:
    """``bundle`` as a bundle written before the store's source was recorded in ``data``."""
    import json
    from pathlib import Path

    m = Path(bundle) / "metrics.json"
    metrics = json.loads(m.read_text())
    metrics["data"] = {k: v for k, v in metrics["data"].items() if k not in drop}
    m.write_text(json.dumps(metrics))
    return str(bundle)


def test_report_keeps_data_sets_apart(tiny_checkpoint, sbu_checkpoint, tmp_path):
    """An NW-UCLA model (seed 0) and an SBU model (seed 1) of one config name, tested on the same split
    expression, were two seeds of one row (mean 19.84 over 10 and 8 classes); now each data set has its
    own table, headed by it."""
    from stf.evaluate import evaluate, load_bundle
    from stf.report import collect, scarce_table, table

    ucla = evaluate(tiny_checkpoint, "ucla:nw-ucla", "label<=2", tmp_path / "ucla", device="cpu")
    sbu = evaluate(sbu_checkpoint, f"sbu:{SBU}", "label<=2", tmp_path / "sbu", device="cpu")
    rows = collect([str(ucla), str(sbu)])
    assert {r["config"] for r in rows} == {"stf_ucla_xview_joint_tiny"} and {r["seed"] for r in rows} == {0, 1}
    text = table(rows)
    assert text.count("| model |") == 2 and "| model | seed 0 | seed 1 |" not in text
    top1 = {p: 100 * load_bundle(p).metrics["top1"] for p in (ucla, sbu)}
    head_sbu = f"**data set sbu:{SBU}, 8 classes, split label<=2, joint stream**"
    head_ucla = "**data set ucla:nw-ucla, 10 classes, split label<=2, joint stream**"
    assert text.index(head_sbu) < text.index(head_ucla)  # ordered by data set
    sbu_part, ucla_part = text.split(head_ucla)
    assert f"| STF | {top1[sbu]:.2f} | {top1[sbu]:.2f} (1 seed) |" in sbu_part and "| seed 1 |" in sbu_part
    assert f"| STF | {top1[ucla]:.2f} | {top1[ucla]:.2f} (1 seed) |" in ucla_part and "| seed 0 |" in ucla_part
    with pytest.raises(ConfigError, match=rf"a scarce-data report compares one data set; got 2: data set sbu:{SBU}"):
        scarce_table(rows)
    # one data set: no heading, as in the README's tables (a shipped bundle, named ucla:nw-ucla relative
    # to a data root it does not record, is the same data set as a new one's recorded source)
    shipped = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
    view3 = evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", tmp_path / "view3", device="cpu")
    one = table(collect([str(shipped), str(view3)]))
    assert one.count("| model |") == 1 and "**data set" not in one
    assert "| STF (stf_ucla_xview_joint_cpu) | 90.52 |" in one and "| STF (stf_ucla_xview_joint_tiny) |" in one


def test_cv_report_knows_one_data_set_however_it_is_named(sbu_checkpoint, tmp_path, data_root):
    """SBU folds evaluated as sbu:PATH, as sbu:/ABSOLUTE/PATH and as a converted directory were refused as
    three data sets; they are one (by the store's recorded source), and so are bundles written before the
    source was recorded, and the committed SBU bundles."""
    from stf.data.resolve import convert
    from stf.evaluate import evaluate, load_bundle
    from stf.report import collect, cv_table

    store = tmp_path / "sbu-store"
    convert("sbu", data_root / SBU, store)
    specs = {1: f"sbu:{SBU}", 2: f"sbu:{data_root / SBU}", 3: str(store)}
    folds = [str(evaluate(sbu_checkpoint, spec, f"fold{k}/test", tmp_path / f"fold{k}", device="cpu"))
             for k, spec in specs.items()]
    assert load_bundle(folds[2]).metrics["data"]["source"] == str((data_root / SBU).resolve())
    rows = collect(folds)
    assert len({r["data"] for r in rows}) == 3 and len({r["dataset"] for r in rows}) == 1
    text = cv_table(rows)
    assert "| model | fold1/test | fold2/test | fold3/test |" in text
    n = sum(r["n"] for r in rows)
    pooled = 100 * sum(sum(r["correct"].values()) for r in rows) / n
    assert f"| {pooled:.2f} ({n}) |" in text
    # written before the source was recorded: the spec (and a converted directory's index.json) say it
    old = [_as_written_before(f) for f in folds]
    assert cv_table(collect(old)) == text
    # the committed SBU bundles (sbu:sbu-kinect-interaction, their data root unrecorded) are that data set too
    shipped = sorted(str(p) for p in (REPO / "docs" / "results" / "sbu").glob("*.eval"))
    assert len({r["dataset"] for r in collect(shipped + folds)}) == 1
    # another data set is refused, naming each data set's bundles
    ucla = str(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval")
    with pytest.raises(ConfigError, match=rf"come from one data set; got 2: data set /.*sbu-store = sbu:/.*{SBU} = "
                                          rf"sbu:{SBU}, 8 classes \(bundles .*fold1, .*fold2, .*fold3\); data set "
                                          r"ucla:nw-ucla, 10 classes \(bundle .*stf_ucla_xview_joint_cpu_seed0.eval\)"):
        cv_table(collect(folds + [ucla]))
    # so is a converted directory that is gone from a bundle that does not record its source
    gone = tmp_path / "gone"
    (tmp_path / "fold3").rename(gone)
    store.rename(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match=r"got 2: data set .*sbu-store, 8 classes \(bundle .*gone\); "):
        cv_table(collect(folds[:2] + [str(gone)]))


# -- damaged copies of the committed bundles ----------------------------------------------------------------

STF0 = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
BB0 = REPO / "docs" / "results" / "backbone_ucla_xview_joint_cpu_seed0.eval"


def _rewritten(src, dst, keep=None, unlabel=None) -> str:
    """``src`` written again (its provenance kept) with only the samples at ``keep``, and those at
    ``unlabel`` unlabelled: a consistent bundle of other samples, as an evaluation would write it."""
    import numpy as np

    from stf.evaluate import load_bundle, write_bundle

    b = load_bundle(src)
    prov = {k: b.metrics[k] for k in ("checkpoint", "data", "stream") if k in b.metrics}
    keep = np.arange(len(b.ids)) if keep is None else np.asarray(keep)
    labels = b.labels[keep].copy()
    if unlabel is not None:
        labels[unlabel] = -1
    return str(write_bundle(dst, b.ids[keep].tolist(), b.logits[keep], labels, b.class_names, prov))


def test_report_refuses_metrics_that_do_not_match_their_logits(tmp_path):
    """A bundle whose logits.npz is another evaluation's (an overwrite cut off before metrics.json was
    rewritten) gave its row metrics.json's top-1 and its McNemar counts from the other logits."""
    import shutil

    from stf.errors import DataError
    from stf.report import collect

    bad = tmp_path / "bb0.eval"
    shutil.copytree(BB0, bad)
    shutil.copy(REPO / "docs" / "results" / "backbone_ucla_xview_joint_cpu_seed1.eval" / "logits.npz",
                bad / "logits.npz")
    with pytest.raises(DataError, match=rf"{bad / 'metrics.json'}: says 464 samples, top-1 0\.9138, but logits\.npz "
                                        r"gives 464, top-1 0\.8966 .* different evaluations"):
        collect([str(STF0), str(bad)])


def test_paired_differences_refuse_bundles_tested_on_different_samples(tmp_path):
    """STF on all 464 view-3 samples and a backbone on 400 of them gave "STF − backbone (paired) -2.73"
    (two different sample sets), beside McNemar counts over the 400 shared ones (8 / 14: -1.50)."""
    from stf.report import collect, scarce_table, table

    part = _rewritten(BB0, tmp_path / "bb0-part", keep=range(400))
    rows = collect([str(STF0), part])
    for report in (table, scarce_table):
        with pytest.raises(ConfigError, match=rf"{STF0} and {part} were tested on different samples "
                                              r"\(464 and 400 labelled, 64 in only one"):
            report(rows)
    # the same samples in another order are the same samples
    shuffled = _rewritten(BB0, tmp_path / "bb0-shuffled", keep=list(reversed(range(464))))
    assert table(collect([str(STF0), shuffled])) == table(collect([str(STF0), str(BB0)]))


def test_cv_paired_difference_refuses_a_fold_tested_on_other_samples(tmp_path):
    """A backbone fold evaluated on fewer samples than STF's gave a pooled difference over STF's count."""
    from stf.report import collect, cv_table

    sbu = sorted((REPO / "docs" / "results" / "sbu").glob("*seed0.eval"))
    bb1 = next(p for p in sbu if p.name.startswith("backbone_sbu_fold1"))
    part = _rewritten(bb1, tmp_path / "bb1-part", keep=range(10))
    with pytest.raises(ConfigError, match=rf"and {part} were tested on different samples"):
        cv_table(collect([str(p) for p in sbu if p != bb1] + [part]))


def test_cv_pooled_top1_is_over_labelled_samples_only(tmp_path):
    """Unlabelled samples counted as wrong in the pooled top-1 (45.39 % beside folds of 84-100 %)."""
    from stf.evaluate import load_bundle
    from stf.report import collect, cv_table

    sbu = sorted((REPO / "docs" / "results" / "sbu").glob("*seed0.eval"))
    half = [_rewritten(p, tmp_path / p.name, unlabel=slice(0, None, 2)) for p in sbu]
    text = cv_table(collect(half))
    for kind in ("STF", "backbone"):
        bs = [load_bundle(p) for p in half if p.split("/")[-1].startswith(kind.lower())]
        right = sum(int(((b.preds == b.labels) & (b.labels >= 0)).sum()) for b in bs)
        n = sum(int((b.labels >= 0).sum()) for b in bs)
        assert n == sum(len(b.ids) // 2 for b in bs)
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| {kind} |"))
        assert row.endswith(f"| {100 * right / n:.2f} ({n}) |"), row


@pytest.mark.parametrize("key", ["checkpoint", "data"])
def test_report_reads_a_bundle_whose_provenance_is_null(tmp_path, key):
    """metrics.json may hold ``"checkpoint": null`` / ``"data": null`` (load_bundle accepts it: a bundle
    written by other code); the report failed on it with an AttributeError traceback."""
    import json
    import shutil

    from stf.report import UNKNOWN, collect, table

    d = tmp_path / "b.eval"
    shutil.copytree(STF0, d)
    m = json.loads((d / "metrics.json").read_text())
    m[key] = None
    (d / "metrics.json").write_text(json.dumps(m))
    (row,) = collect([str(d)])
    assert f"{row['top1']:.2f}" == "90.52"
    if key == "checkpoint":
        assert row["kind"] == UNKNOWN and row["seed"] is None and row["dataset"] is not None
    else:
        assert row["kind"] == "STF" and row["split"] is None and row["dataset"] is None
    assert "90.52" in table([row])


def test_each_stf_config_is_paired_with_its_backbone_when_there_are_several():
    """Full and 10 % runs in one table (one split and stream): with two backbone configs no STF config
    had a paired row at all; each is paired with its backbone by name (stf_X / backbone_X)."""
    from stf.report import collect, discordance, table

    scarce = REPO / "docs" / "results" / "scarce"
    paths = [STF0, BB0, scarce / "stf_ucla_xview-10pct_joint_cpu_seed0.eval",
             scarce / "backbone_ucla_xview-10pct_joint_cpu_seed0.eval"]
    rows = collect([str(p) for p in paths])
    text = table(rows)
    by = {r["config"]: r for r in rows}
    for tag in ("", "-10pct"):
        st, bb = by[f"stf_ucla_xview{tag}_joint_cpu"], by[f"backbone_ucla_xview{tag}_joint_cpu"]
        a, b = discordance(st, bb)
        d = 100 * (a - b) / 464  # paired over the same 464 samples: the discordant ones make the difference
        assert abs(d - (st["top1"] - bb["top1"])) < 1e-9
        name = f"STF (stf_ucla_xview{tag}_joint_cpu) − backbone (backbone_ucla_xview{tag}_joint_cpu) (paired)"
        assert f"| {name} | {d:+.2f} | {d:+.2f} (1 seed) |" in text, text
        assert f"seed 0 {a} / {b} (p = " in text
    assert text.count("(paired)") == 2
