"""The speech interface and the espeak backend (real libespeak-ng, offline)."""

from __future__ import annotations

import os
import stat
import sys
import textwrap

import numpy as np
import pytest

from mlcl_core import speech
from mlcl_core.speech import NoVoiceError, get_backend, synthesize
from mlcl_core.speech.espeak import EspeakBackend, parse_wav_stream, short_clauses

SR = speech.SAMPLE_RATE


@pytest.mark.parametrize(
    "lang,voice",
    [
        ("zho_Hans", "cmn"),
        ("mya_Mymr", "my"),
        ("eng_Latn", "en"),
        ("bod_Tibt", "cmn+bophono"),
        ("fra_Latn", "fr"),
    ],
)
def test_espeak_voices(lang, voice):
    assert get_backend("espeak").voice(lang) == voice


@pytest.mark.parametrize(
    "text,lang",
    [
        ("今天天气很好，我们去公园。", "zho_Hans"),
        ("ရေအောက်၌ သွားလာရန် တိုက်တွန်းခဲ့သည်။", "mya_Mymr"),
        ("The weather is nice today.", "eng_Latn"),
    ],
)
def test_espeak_speaks_16k_float32(text, lang):
    wave = synthesize(text, lang)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.5 < len(wave) / SR < 10 and np.isfinite(wave).all()
    assert np.abs(wave).max() > 0.05  # not silence


def test_unknown_language_lists_backends_that_can():
    with pytest.raises(
        NoVoiceError, match=r"espeak has no voice for language 'xyz_Latn'.*mms"
    ):
        get_backend("espeak").voice("xyz_Latn")
    with pytest.raises(NoVoiceError) as err:
        synthesize("x", "xyz_Latn")
    assert isinstance(err.value, ValueError)
    assert speech.backends_for("bod_Tibt")[
        0
    ] == "espeak" and "gtts" not in speech.backends_for("bod_Tibt")
    assert set(speech.backends_for("zho_Hans")) >= {"espeak", "gtts"}
    with pytest.raises(ValueError, match="unknown speech backend"):
        get_backend("festival")
    with pytest.raises(ValueError, match="malformed language code"):
        get_backend("espeak").voice("Chinese")


def test_import_is_light():
    code = (
        "import sys, mlcl_core.speech; "
        "print(any(m in sys.modules for m in ('torch', 'transformers', 'gtts')))"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_version_names_engine_and_tibetan_mapping():
    version = get_backend("espeak").version
    assert "espeak-ng 1.52" in version and "bophono" in version and "tibmap" in version


def test_burmese_clause_that_crashed_libespeak():
    # This clause aborted the process in libespeak-ng 1.52 when spoken in one call.
    text = (
        "စစ်ပွဲအစပိုင်းတွင် ရေငုပ်သင်္ဘောများသည် ပင်လယ်ရေပြင်အထက်ပိုင်းတွင် အများဆုံး "
        "သွားလာခဲ့ကြသော်လည်း ရေဒါစနစ်သည် ဖွံ့ဖြိုးလာပြီး ပိုမိုတိကျလာသည့်အတွက် ၎င်းတို့အား "
        "မမြင်တွေ့နိုင်စေရန်အတွက် ရေအောက်၌ သွားလာရန် တိုက်တွန်းခဲ့သည်။"
    )
    assert all(len(p) <= 48 or " " not in p for p in short_clauses(text, 48))
    assert len(synthesize(text, "mya_Mymr")) / SR > 5


def test_parse_wav_stream_with_placeholder_sizes():
    samples = np.arange(-5, 5, dtype="<i2")
    header = (
        b"RIFF"
        + b"\xff\xff\xff\xff"
        + b"WAVE"
        + b"fmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + (22050).to_bytes(4, "little")
        + (44100).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + b"\xff\xff\xff\xff"
    )
    got, rate = parse_wav_stream(header + samples.tobytes())
    assert rate == 22050 and (got == samples).all()
    with pytest.raises(ValueError, match="WAV"):
        parse_wav_stream(b"not a wav")


@pytest.fixture
def fake_espeak_binary(tmp_path):
    """An ``espeak-ng`` stand-in: records its argv and stdin, writes a WAV stream with
    placeholder sizes and one 22.05 kHz sample per input byte."""
    script = tmp_path / "espeak-ng"
    script.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        if "--version" in sys.argv:
            print("eSpeak NG text-to-speech: 1.51  Data at: /usr/share/espeak-ng-data"); sys.exit(0)
        text = sys.stdin.buffer.read()
        open({str(tmp_path / "calls")!r}, "a").write(repr((sys.argv[1:], text.decode())) + "\\n")
        hdr = (b"RIFF\\xff\\xff\\xff\\xffWAVEfmt " + (16).to_bytes(4, "little") + b"\\x01\\x00\\x01\\x00"
               + (22050).to_bytes(4, "little") + (44100).to_bytes(4, "little") + b"\\x02\\x00\\x10\\x00"
               + b"data\\xff\\xff\\xff\\xff")
        sys.stdout.buffer.write(hdr + b"\\x00\\x10" * len(text))
        """)
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_subprocess_engine_passes_text_on_stdin(fake_espeak_binary, tmp_path):
    backend = EspeakBackend(engine="subprocess", binary=str(fake_espeak_binary))
    assert backend.version.startswith("espeak-ng 1.51;")
    text = "-v xx --help"  # would be read as options if passed as an argument
    wave = backend.synthesize(text, "eng_Latn")
    argv, stdin = eval((tmp_path / "calls").read_text().splitlines()[0])
    assert (
        "--stdin" in argv and "--stdout" in argv and text not in argv and stdin == text
    )
    assert abs(len(wave) - len(text) * SR / 22050) <= 2  # resampled from 22.05 kHz
    # the binary writes 0 bytes for it
    assert len(backend.synthesize("", "eng_Latn")) == 0


def test_subprocess_engine_needs_the_binary():
    with pytest.raises(ValueError, match="binary"):
        EspeakBackend(engine="subprocess", binary="/nonexistent/espeak-ng")
    with pytest.raises(ValueError, match="unknown espeak engine"):
        EspeakBackend(engine="dll")


def test_worker_process_initialises_its_own_library():
    from concurrent.futures import ProcessPoolExecutor

    here = synthesize("你好", "zho_Hans")
    with ProcessPoolExecutor(1) as pool:
        there = pool.submit(synthesize, "你好", "zho_Hans").result()
        pid = pool.submit(os.getpid).result()
    # espeak carries a little state between calls: lengths vary by a few samples.
    assert pid != os.getpid() and abs(len(here) - len(there)) < 40
