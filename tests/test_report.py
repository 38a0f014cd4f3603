"""The cross-validation report over several seeds, on a hand-checkable case.

(Reports of real bundles are checked in test_evaluate.py and test_readme_results.py.)
"""
import pytest

from stf.errors import ConfigError
from stf.report import cv_table, mcnemar_exact


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
