"""Results store: run ids that depend on system, config and seed; stored records."""

from __future__ import annotations

import pytest

from mlcl_core import results
from mlcl_core.config import make_config

LANGS = ("zho_Hans", "bod_Tibt")


@pytest.fixture
def cfg():
    return make_config("tiny", languages=LANGS, subset=60)


def test_run_id_depends_on_system_config_and_seed(cfg):
    rid = results.run_id("combined", cfg, 0)
    assert rid == results.run_id("combined", cfg, 0)
    assert (
        len(
            {
                rid,
                results.run_id("combined", cfg, 1),
                results.run_id("unique", cfg, 0),
                results.run_id(
                    "combined", make_config("tiny", languages=LANGS, subset=61), 0
                ),
            }
        )
        == 4
    )
    # the config's own seed is replaced by the run's seed
    assert (
        results.run_id(
            "combined", make_config("tiny", languages=LANGS, subset=60, seed=5), 0
        )
        == rid
    )


def test_ngram_settings_reach_the_run_id(cfg):
    other = make_config("tiny", languages=LANGS, subset=60, max_features=500)
    assert results.run_id("tfidf-mlp", cfg, 0) != results.run_id("tfidf-mlp", other, 0)
