"""Synthesising a corpus: the table, parallel workers, the cache, resuming after a
failure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlcl_core.config import make_config
from mlcl_core.corpora import Corpus
from mlcl_core.speech import (
    NoVoiceError,
    SynthesisError,
    corpus_audio,
    load_wave,
    synthesize_corpus,
)
from mlcl_core.speech.espeak import EspeakBackend

ZH = ["你好。", "今天天气很好。", "我们去公园。", "他在看书。", "明天见。", "谢谢你。"]
EN = [
    "Hello.",
    "Nice weather today.",
    "BOOM we go to the park.",
    "He reads.",
    "See you.",
    "KILL thanks.",
]


@pytest.fixture
def corpus() -> Corpus:
    table = pd.DataFrame(
        {
            "id": [str(i) for i in range(6)],
            "label": ["a", "b"] * 3,
            "split": ["train"] * 4 + ["test"] * 2,
            "zho_Hans": ZH,
            "eng_Latn": EN,
        }
    )
    return Corpus("toy", table, ("zho_Hans", "eng_Latn"), ("a", "b"))


def test_table_and_cache(corpus, tmp_path):
    df = synthesize_corpus(
        corpus, cache_dir=tmp_path, workers=2, progress=False, chunk_size=2
    )
    assert list(df.columns) == ["id", "split", "lang", "path", "seconds", "text_id"]
    assert len(df) == 12 and df.attrs["synthesized"] == 12
    assert set(df["text_id"]) >= {"toy/train/0/zho_Hans", "toy/test/5/eng_Latn"}
    for row in df.itertuples():
        assert (
            abs(len(load_wave(row.path)) / 16000 - row.seconds) < 1e-9
            and row.seconds > 0.2
        )
    again = synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    assert (
        again.attrs["synthesized"] == 0
        and again["path"].tolist() == df["path"].tolist()
    )


def test_bad_input_fails_before_work(corpus, tmp_path):
    with pytest.raises(ValueError, match="not in corpus"):
        synthesize_corpus(
            corpus, cache_dir=tmp_path, languages=["mya_Mymr"], progress=False
        )
    bad = Corpus(
        "toy",
        corpus.table.rename(columns={"eng_Latn": "xyz_Latn"}),
        ("zho_Hans", "xyz_Latn"),
        ("a", "b"),
    )
    with pytest.raises(NoVoiceError):
        synthesize_corpus(bad, cache_dir=tmp_path, progress=False)
    assert list(tmp_path.rglob("*.flac")) == []


def _failing(trigger: str, kill: bool):
    real = EspeakBackend._synthesize

    def synth(self, text, lang, text_id):
        if trigger in text:
            if kill:
                import os

                os._exit(1)  # a worker dying mid-run
            raise RuntimeError("synthesiser broke")
        return real(self, text, lang, text_id)

    return synth


@pytest.mark.parametrize("kill", [False, True])
def test_interrupted_run_resumes_without_redoing(corpus, tmp_path, monkeypatch, kill):
    trigger = "KILL" if kill else "BOOM"
    # forked workers inherit it
    monkeypatch.setattr(EspeakBackend, "_synthesize", _failing(trigger, kill))
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool if kill else SynthesisError) as err:
        synthesize_corpus(
            corpus, cache_dir=tmp_path, workers=2, progress=False, chunk_size=1
        )
    if not kill:
        assert "espeak" in str(err.value) and "toy/train/2/eng_Latn" in str(err.value)
    # cache entries only: pathlib's glob also matches the hidden temporaries that
    # workers terminated mid-write leave behind when the pool breaks
    before = {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.rglob("[!.]*.flac")
    }
    leftovers = _temporaries(tmp_path)
    assert 0 < len(before) < 12 and (kill or leftovers == [])
    monkeypatch.undo()
    df = synthesize_corpus(
        corpus, cache_dir=tmp_path, workers=2, progress=False, chunk_size=1
    )
    assert df.attrs["synthesized"] == 12 - len(before)  # only the missing files
    assert all(
        (p.stat().st_ino, p.stat().st_mtime_ns) == v for p, v in before.items()
    )  # untouched
    assert _temporaries(tmp_path) == leftovers  # the resumed run leaves none of its own


def test_corpus_audio_from_config(corpus, tmp_path):
    cfg = make_config("tiny", cache_dir=str(tmp_path), workers=1).speech
    df = corpus_audio(corpus, cfg, languages=["zho_Hans"], progress=False)
    assert (
        len(df) == 6
        and set(df["lang"]) == {"zho_Hans"}
        and df["path"].str.startswith(str(tmp_path)).all()
    )


def test_synthesis_speed_uses_a_fresh_cache(corpus, tmp_path):
    from mlcl_core.speech.corpus import synthesis_speed

    # a warm cache elsewhere
    synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    speed = synthesis_speed(corpus, n=2, workers=1)
    assert (
        speed["utterances"] == 4
        and speed["audio_seconds"] > 1
        and speed["x_realtime"] > 0
    )
    with pytest.raises(ValueError, match="n must be"):
        synthesis_speed(corpus, n=0)


def _temporaries(root) -> list:
    """Leftover temporaries of ``storage.atomic_path``
    (``.<name>.<random><suffix>``)."""
    return sorted(p for p in root.rglob(".*") if p.is_file())


def test_temporaries_glob_matches_atomic_path_names(tmp_path):
    from mlcl_core.storage import atomic_path

    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "ab" / "key.flac", suffix=".flac") as tmp:
            tmp.write_bytes(b"half")
            assert _temporaries(tmp_path) == [tmp]  # what a killed writer would leave
            raise RuntimeError
    assert _temporaries(tmp_path) == []


def test_resume_redoes_exactly_the_one_damaged_file(corpus, tmp_path):
    """A cached file that decodes cleanly but fails the cache's checks is synthesised
    again."""
    import soundfile as sf

    df = synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    damaged = df["path"].iloc[3]
    pcm, rate = sf.read(damaged, dtype="int16")
    comment = sf.SoundFile(damaged).comment
    pcm[len(pcm) // 2] += 1  # one sample changed under the original tag: a valid FLAC
    with sf.SoundFile(
        damaged, "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16"
    ) as f:
        f.comment = comment
        f.write(pcm)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in map(Path, df["path"])}
    again = synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    assert again.attrs["synthesized"] == 1
    changed = [
        str(p)
        for p, v in before.items()
        if (p.stat().st_ino, p.stat().st_mtime_ns) != v
    ]
    assert changed == [damaged]
    row = again[again["path"] == damaged].iloc[0]
    assert (
        len(load_wave(damaged)) / 16000 == row.seconds
    )  # intact again, and measured anew


def test_a_verified_unchanged_file_is_not_decoded_again(corpus, tmp_path, monkeypatch):
    """Listing a cached corpus reads the verification log, not the audio; a file changed
    since its check is checked (and here, being damaged, synthesised) again."""
    from mlcl_core.speech import cache as cache_mod

    first = synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    decoded: list[str] = []
    real_load = cache_mod.load_wave

    def counting_load(path):
        decoded.append(str(path))
        return real_load(path)

    monkeypatch.setattr(cache_mod, "load_wave", counting_load)
    again = synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    assert decoded == [] and again.attrs["synthesized"] == 0
    pd.testing.assert_frame_equal(again, first)
    damaged = Path(first["path"].iloc[2])
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated after its check
    third = synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    assert decoded == [str(damaged)] and third.attrs["synthesized"] == 1
    assert third["path"].tolist() == first["path"].tolist()
    fourth = synthesize_corpus(corpus, cache_dir=tmp_path, workers=1, progress=False)
    assert fourth.attrs["synthesized"] == 0 and decoded == [str(damaged)]
