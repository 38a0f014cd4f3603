"""The README's STF-vs-backbone table is what `python -m stf report` prints from the committed bundles."""
from __future__ import annotations

from stf.report import collect, table
from tests.conftest import REPO


def test_readme_table_is_the_report_of_the_bundles():
    bundles = [REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval", *sorted((REPO / "docs" / "results").glob("*.eval"))]
    assert len(bundles) == 4
    rows = collect([str(b) for b in bundles])
    assert sorted((r["kind"], r["seed"]) for r in rows) == [("STF", 0), ("STF", 1), ("backbone", 0), ("backbone", 1)]
    assert all(r["n"] == 464 and r["split"] == "xview/test" for r in rows)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for line in table(rows).splitlines():
        assert line in readme, f"README lacks the report line {line!r}"
