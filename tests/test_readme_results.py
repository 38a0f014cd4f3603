"""The README's STF-vs-backbone table is what `python -m stf report` prints from the committed bundles."""
from __future__ import annotations

from stf.report import collect, table
from tests.conftest import REPO


def test_readme_table_is_the_report_of_the_bundles():
    bundles = [*sorted((REPO / "assets").glob("*.eval")), *sorted((REPO / "docs" / "results").glob("*.eval"))]
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
