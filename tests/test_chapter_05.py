"""Chapter 5 smoke run: Table 4 and the data-length curves (Figures 3-4) on a SIB-200
subset, and bad parameters refused before any work."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import SMOKE_MLCL, notebook_text

SMOKE = SMOKE_MLCL | {"sizes": [4, 8]}


@pytest.mark.slow
def test_chapter_05_builds_table_4_and_the_curves(run_chapter, tmp_path, repo_root):
    from mlcl_core.config import make_config
    from mlcl_core.search import search_trials_path

    start = time.time()
    nb = run_chapter("05_adapters_and_data", results_dir=str(tmp_path), **SMOKE)
    text = notebook_text(nb)
    # the search is chapter 4's: the same trials file its config and seed give
    ch4_cfg = make_config(
        "tiny", subset=16, num_epochs=1, meta_steps=1, max_seconds=2.0
    )
    trials = search_trials_path(ch4_cfg, tmp_path, "sib200-table2-search", 100)
    assert trials.is_file()
    assert "from chapter 4's dev-only TPE search (1 trials, seed 100" in text
    runs = [
        json.loads(p.read_text()) for p in (tmp_path / "sib200-table4").glob("*.json")
    ]
    kinds = sorted(
        (r["config"]["adapter"]["kind"], r["config"]["data"]["train_sentences"])
        for r in runs
    )
    # the curve (2 kinds x 2 sizes) and Table 4's extra no-adapter row at 8 sentences
    assert kinds == [
        ("metaadapter", 4),
        ("metaadapter", 8),
        ("none", 8),
        ("simadapter", 4),
        ("simadapter", 8),
    ]
    loss = {(r["config"]["loss"]["alpha"], r["config"]["loss"]["beta"]) for r in runs}
    assert len(loss) == 1  # every row uses the searched weights
    # Table 4: ours, the paper's beside it, paired differences from MetaAdapter
    assert "Table 4 (sib200, 8 of 16 training sentences, ours):" in text
    for row in ("SimAdapter", "MetaAdapter", "no adapter"):
        assert row in text
    assert "MLCL paper, Table 4 (its Flores-200 split)" in text
    assert "no adapter minus MetaAdapter: M" in text
    # the paired comparison at each size, and the paper's directions beside ours
    assert "MetaAdapter (4 sentences) minus SimAdapter (4 sentences)" in text
    assert "at the smallest size (paper 10 h of mms speech, ours 4 sentences)" in text
    # prose numbers are the stored runs' (one seed: the mean is that run's)
    m = {
        (r["config"]["adapter"]["kind"], r["config"]["data"]["train_sentences"]): r
        for r in runs
    }
    for kind, name in (("simadapter", "SimAdapter"), ("metaadapter", "MetaAdapter")):
        got = re.search(
            rf"- {name}: from 4 to 8 training sentences .*?M goes from ([\d.]+) to "
            r"([\d.]+) and G from ([\d.]+) to ([\d.]+)\.",
            text,
        )
        assert got, f"no curve sentence for {name}"
        want = [m[kind, 4]["M"], m[kind, 8]["M"], m[kind, 4]["G"], m[kind, 8]["G"]]
        assert list(got.groups()) == [f"{w:.3f}" for w in want]
    # how many labels each point predicts, and the caveat it puts on a low G
    assert "share of the most frequent test label" in text
    assert re.search(r"At 4 sentences the runs predict [\d.]+ of 7 labels", text)
    cost = sum(m[k]["timings"]["total"] for k in m if k[0] != "none")
    assert f"Training the 4 curve runs took {cost:.0f} s" in text
    for stat, number in (("G", 3), ("M", 4)):
        png = repo_root / "figures" / f"05-sib200-figure{number}-{stat}.png"
        assert png.is_file() and png.stat().st_mtime >= start


@pytest.mark.slow
def test_chapter_05_refuses_bad_parameters_before_any_work(run_chapter, tmp_path):
    import papermill as pm

    for bad, match in (
        ({"sizes": [4, 32]}, "only 16 training sentences"),
        ({"adapter_kinds": ["simadapter", "metadapter"]}, "metadapter"),
        ({"seeds": [0, 100]}, "search_seed"),
    ):
        with pytest.raises(pm.PapermillExecutionError, match=match):
            run_chapter(
                "05_adapters_and_data",
                results_dir=str(tmp_path),
                **{**SMOKE, **bad},
            )
        assert not (tmp_path / "sib200-table4").exists()
        assert not (tmp_path / "sib200-table2-search").exists()
