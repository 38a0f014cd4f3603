"""The README's STF-vs-backbone table is what `python -m stf report` prints from the committed bundles."""
from __future__ import annotations

from stf.report import collect, table
from tests.conftest import REPO


def test_readme_table_is_the_report_of_the_bundles():
    bundles = [*sorted((REPO / "assets").glob("*.eval")), *sorted((REPO / "assets" / "baselines").glob("*.eval")),
               *sorted((REPO / "docs" / "results").glob("*.eval"))]
    rows = collect([str(b) for b in bundles])
    pairs = {(r["kind"], r["seed"]) for r in rows}
    assert {("STF", 0), ("STF", 1), ("backbone", 0), ("backbone", 1)} <= pairs
    assert all(r["n"] == 464 and r["split"] == "xview/test" for r in rows)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for line in table(rows).splitlines():
        assert line in readme, f"README lacks the report line {line!r}"


def test_readme_validation_table_is_the_report_of_the_validation_bundles():
    rows = collect([str(b) for b in sorted((REPO / "docs" / "results" / "val").glob("*.eval"))])
    assert rows and all(r["n"] == 504 and r["split"] == "xview-val/test" for r in rows)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for line in table(rows).splitlines():
        assert line in readme, f"README lacks the validation report line {line!r}"


def test_readme_two_stream_figure_is_the_fusion_of_the_bundles():
    """The joint + bone figure in the README is what `python -m stf fuse` gives from the committed bundles."""
    from stf.evaluate import load_bundle
    from stf.fuse import fuse

    joint = load_bundle(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval")
    bone = load_bundle(REPO / "docs" / "results" / "stf_ucla_xview_bone_cpu_seed0.eval")
    assert bone.metrics["stream"] == "bone" and bone.metrics["checkpoint"]["seed"] == 0
    ids, logits, labels = fuse([joint, bone])
    top1 = 100 * float((logits.argmax(1) == labels).mean())
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"reached {100 * bone.metrics['top1']:.2f} % on view 3" in readme
    assert f"equal weights (the `fuse` default, fixed before\nthe bone model existed) **{top1:.2f} %**" in readme


def test_readme_backbone_two_stream_figure_is_the_fusion_of_the_bundles():
    """The backbone's joint + bone figure, and its McNemar counts against STF's fusion, come from the bundles."""
    from stf.evaluate import load_bundle
    from stf.fuse import fuse

    results = REPO / "docs" / "results"
    fused = {}
    for kind, joint_path in (("stf", REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"),
                             ("backbone", results / "backbone_ucla_xview_joint_cpu_seed0.eval")):
        joint = load_bundle(joint_path)
        bone = load_bundle(results / f"{kind}_ucla_xview_bone_cpu_seed0.eval")
        assert bone.metrics["stream"] == "bone" and joint.metrics["stream"] == "joint"
        ids, logits, labels = fuse([joint, bone])
        fused[kind] = dict(zip(ids, logits.argmax(1) == labels))
    assert fused["stf"].keys() == fused["backbone"].keys() and len(fused["stf"]) == 464
    top1 = 100 * sum(fused["backbone"].values()) / 464
    only_stf = sum(fused["stf"][i] and not fused["backbone"][i] for i in fused["stf"])
    only_bb = sum(fused["backbone"][i] and not fused["stf"][i] for i in fused["stf"])
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert f"the backbone's joint + bone fusion {top1:.2f} %" in readme
    assert f"(STF / backbone right only: {only_stf} / {only_bb}, p = " in readme


def test_readme_sbu_table_is_the_cv_report_of_the_sbu_bundles():
    """The SBU five-fold table is `python -m stf report --cv docs/results/sbu/*.eval`."""
    from stf.report import cv_table

    bundles = sorted((REPO / "docs" / "results" / "sbu").glob("*.eval"))
    rows = collect([str(b) for b in bundles])
    assert rows and all(r["data"] == "sbu:sbu-kinect-interaction" and r["split"].startswith("fold") for r in rows)
    assert {r["kind"] for r in rows} == {"STF", "backbone"}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for line in cv_table(rows).splitlines():
        assert line in readme, f"README lacks the SBU report line {line!r}"


def test_readme_faithfulness_comparison_is_the_report_of_the_studies():
    """STF vs backbone focus faithfulness: `python -m stf faithfulness-report docs/results/faithfulness/*`."""
    from stf.explain.study import compare_studies, load_study

    studies = [load_study(d) for d in sorted((REPO / "docs" / "results" / "faithfulness").iterdir())]
    assert len(studies) == 8 and {m["model"]["seed"] for m, _ in studies} == {2, 3}
    assert {m["settings"]["mode"] for m, _ in studies} == {"zero", "interpolate"}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for line in compare_studies(studies).splitlines():
        assert line in readme, f"README lacks the faithfulness report line {line!r}"


def test_readme_scarce_data_table_is_the_report_of_the_bundles():
    """The scarce-data table: `report --scarce` over the joint-stream view-3 bundles, full and scarce runs."""
    from stf.report import scarce_table

    bundles = [*sorted((REPO / "assets").glob("*.eval")), *sorted((REPO / "assets" / "baselines").glob("*.eval")),
               *sorted((REPO / "docs" / "results").glob("*joint*.eval")),
               *sorted((REPO / "docs" / "results" / "scarce").glob("*.eval"))]
    rows = collect([str(b) for b in bundles])
    assert {r["fraction"] for r in rows} - {None} and all(r["stream"] == "joint" for r in rows)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for line in scarce_table(rows).splitlines():
        assert line in readme, f"README lacks the scarce-data report line {line!r}"


def test_readme_faithfulness_table_is_the_committed_study():
    """The shipped model's faithfulness table: every AUC, error and beats-random cell is the stored study's."""
    import json

    from stf.explain.study import load_study, markdown, summarise

    study = REPO / "docs" / "results" / "faithfulness_shipped"
    stored = json.loads((study / "summary.json").read_text())
    meta, rows = load_study(study)
    assert meta["samples"] == 48 and meta["checkpoint"] == "assets/stf_ucla_xview_joint_cpu_seed0.pt"
    assert meta["torch_threads"] == 1 and meta["settings"]["mode"] == "zero"
    summary = summarise(rows)  # the per-sample rows give the stored summary
    assert markdown(summary) == markdown(stored["summary"])
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    body = [ln for ln in markdown(summary).splitlines()[2:] if ln.startswith("| ")]
    assert len(body) == 6
    for line in body:
        method, *cells = [c.strip() for c in line.strip("|").split("|")]
        row = next((r for r in readme if r.startswith(f"| {method} ") or r.startswith(f"| {method} (")), None)
        assert row is not None, f"README lacks the faithfulness row of {method}"
        assert [c.strip() for c in row.strip("|").split("|")][1:4] == cells[:3], (row, line)
