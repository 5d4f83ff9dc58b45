"""The paired bootstrap of one system minus another (chapter 6), on hand-made runs."""

from __future__ import annotations

import pytest

from mlcl_core.paired import noise_verdict, paired_difference


def _record(correct: dict[str, list[bool]]) -> dict:
    preds = [
        {"id": f"s{i}", "lang": lang, "y": 1, "y_hat": 1 if ok else 0}
        for lang, oks in correct.items()
        for i, ok in enumerate(oks)
    ]
    return {"predictions": preds}


A = [_record({"x": [True] * 4, "y": [True, False, False, False]})]  # (1, .25)
B = [
    _record({"x": [True] * 4, "y": [True] * 4}),  # (1, 1): G 0, M 1
    _record({"x": [True] * 4, "y": [True, True, False, False]}),  # (1, .5): G 1/6
]


def test_difference_is_of_seed_means_of_g_and_m():
    got = paired_difference(A, B, n_boot=200, seed=1)
    # a: G(1, .25) = 0.3, M .625; b: mean G (0 + 1/6) / 2, mean M (1 + .75) / 2
    assert got["G"][0] == pytest.approx(1 / 12 - 0.3)
    assert got["M"][0] == pytest.approx(0.875 - 0.625)
    for diff, low, high in got.values():
        assert low <= diff <= high
    assert paired_difference(A, A, n_boot=50)["M"] == (0.0, 0.0, 0.0)
    flipped = paired_difference(B, A, n_boot=200, seed=1)
    assert flipped["M"][0] == pytest.approx(-got["M"][0])


def test_verdict_says_outside_only_when_the_interval_excludes_zero():
    many_a = [_record({"x": [True] * 40, "y": [i % 4 == 0 for i in range(40)]})]
    many_b = [_record({"x": [True] * 40, "y": [True] * 40})]
    got = paired_difference(many_a, many_b, n_boot=300, seed=0)
    assert got["M"][1] > 0  # every sentence b gets right that a does not
    text = noise_verdict("w/o LCL", got)
    assert text.startswith("w/o LCL minus the full model: M +0.3750")
    assert "outside the noise" in text
    same = noise_verdict("copy", paired_difference(many_a, many_a, n_boot=20))
    assert "outside" not in same and same.count("inside the noise") == 2


def test_runs_on_other_sentences_are_refused():
    other = [_record({"x": [True] * 5, "y": [True] * 5})]
    with pytest.raises(ValueError, match="lacks"):
        paired_difference(A, other, n_boot=10)


def test_difference_table_has_one_row_per_other_row_with_its_verdict():
    from mlcl_core.ablations import difference_table

    table = difference_table({"full": A, "w/o x": B, "copy": A}, "full", n_boot=50)
    assert list(table.index) == ["w/o x", "copy"]
    assert table.loc["w/o x", "M"] == pytest.approx(0.25)
    assert table.loc["copy", "M"] == 0.0 and "inside" in table.loc["copy", "verdict"]
    assert table.loc["w/o x", "verdict"].startswith("w/o x minus full: M +0.2500")
    with pytest.raises(ValueError, match="reference row"):
        difference_table({"a": A}, "b")
