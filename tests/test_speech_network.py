"""Network backends offline: gTTS with a mocked transport, MaryTTS against a loopback
stub server, and the retry/backoff policy."""

from __future__ import annotations

import base64
import io
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
import requests
import soundfile as sf

from mlcl_core.speech import NoVoiceError, SynthesisError, get_backend
from mlcl_core.speech.audio import decode
from mlcl_core.speech.network import with_retries


def _audio_bytes(seconds: float, rate: int, fmt: str, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(
        buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, format=fmt
    )
    return buf.getvalue()


def test_retries_back_off_exponentially_then_name_backend_and_text():
    delays, calls = [], []

    def flaky():
        calls.append(1)
        raise ConnectionError("no route")

    with pytest.raises(
        SynthesisError,
        match=r"gtts: synthesis of sib200/test/7/zho_Hans failed after 4 "
        r"attempts: ConnectionError: no route",
    ):
        with_retries(
            flaky,
            "gtts",
            "sib200/test/7/zho_Hans",
            retries=3,
            backoff=0.5,
            sleep=delays.append,
        )
    assert len(calls) == 4 and delays == [0.5, 1.0, 2.0]
    outcomes = iter([ConnectionError("x"), "ok"])

    def once_flaky():
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert (
        with_retries(once_flaky, "gtts", "t", retries=1, backoff=0, sleep=delays.append)
        == "ok"
    )


class _Sender:
    """Stands in for ``requests.Session.send``: answers like Google's batchexecute
    endpoint, one MP3 per request, or fails ``failures`` times first."""

    def __init__(self, failures: int = 0):
        self.failures, self.requests, self.parts = failures, [], []

    def install(self, monkeypatch) -> _Sender:
        monkeypatch.setattr(
            requests.Session, "send", lambda session, request, **kw: self(request)
        )
        return self

    def __call__(self, request):
        self.requests.append(request)
        if self.failures:
            self.failures -= 1
            raise requests.ConnectionError("connection reset")
        mp3 = _audio_bytes(
            0.5 + 0.25 * len(self.parts), 24000, "MP3", 300 + 50 * len(self.parts)
        )
        self.parts.append(mp3)
        body = (
            ')]}\'\n\n[["wrb.fr","jQ1olc","[\\"'
            + base64.b64encode(mp3).decode()
            + '\\"]",null]]'
        )
        resp = requests.Response()
        resp.status_code, resp._content, resp.request = 200, body.encode(), request
        resp._content_consumed = True  # iter_lines then reads _content, not a socket
        return resp


def test_gtts_decodes_each_part_separately(monkeypatch):
    sender = _Sender().install(monkeypatch)
    backend = get_backend("gtts", backoff=0)
    assert backend.voice("zho_Hans") == "zh" and backend.voice("mya_Mymr") == "my"
    # > 100 characters: gTTS splits it
    text = "今天天气很好，我们一起去公园散步吧。" * 8
    wave = backend.synthesize(text, "zho_Hans", text_id="sib200/train/1/zho_Hans")
    assert len(sender.requests) == len(sender.parts) >= 2
    expected = np.concatenate([decode(p, "part") for p in sender.parts])
    assert wave.dtype == np.float32 and np.array_equal(wave, expected)
    assert (
        abs(len(wave) / 16000 - sum(0.5 + 0.25 * i for i in range(len(sender.parts))))
        < 0.2
    )


def test_gtts_retries_then_fails_naming_text(monkeypatch):
    sender = _Sender(failures=2).install(monkeypatch)
    backend = get_backend("gtts", retries=2, backoff=0)
    assert len(backend.synthesize("你好", "zho_Hans")) > 0 and len(sender.requests) == 3
    _Sender(failures=99).install(monkeypatch)
    with pytest.raises(
        SynthesisError, match=r"gtts: synthesis of my-text-7 failed after 3 attempts"
    ):
        backend.synthesize("你好", "zho_Hans", text_id="my-text-7")


def test_gtts_has_no_tibetan():
    with pytest.raises(
        NoVoiceError,
        match=r"gtts has no voice for language 'bod_Tibt'.*espeak.*marytts",
    ):
        get_backend("gtts").voice("bod_Tibt")


class _MaryHandler(BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_POST(self):
        assert self.path == "/process"
        length = int(self.headers["Content-Length"])
        params = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        self.seen.append(params)
        if params.get("LOCALE") == "xx":
            body, code, kind = b"No voice for locale xx", 500, "text/plain"
        else:
            seconds = 0.01 * len(params["INPUT_TEXT"])
            body, code, kind = _audio_bytes(seconds, 48000, "WAV"), 200, "audio/x-wav"
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def mary_url():
    server = HTTPServer(("127.0.0.1", 0), _MaryHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _MaryHandler.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_marytts_against_stub_server(mary_url):
    backend = get_backend(
        "marytts",
        url=mary_url,
        locales={"bod_Tibt": "bo"},
        voices={"bod": "tibetan-hsmm"},
    )
    text = "བཀྲ་ཤིས་བདེ་ལེགས།"
    wave = backend.synthesize(text, "bod_Tibt")
    params = _MaryHandler.seen[-1]
    assert params == {
        "INPUT_TEXT": text,
        "INPUT_TYPE": "TEXT",
        "OUTPUT_TYPE": "AUDIO",
        "AUDIO": "WAVE_FILE",
        "LOCALE": "bo",
        "VOICE": "tibetan-hsmm",
    }
    # 48 kHz -> 16 kHz
    assert wave.dtype == np.float32 and abs(len(wave) - 0.01 * len(text) * 16000) <= 2
    assert backend.voice("bod_Tibt") == "bo/tibetan-hsmm"


def test_marytts_server_error_is_retried_then_reported(mary_url):
    backend = get_backend(
        "marytts", url=mary_url, locales={"bod_Tibt": "xx"}, retries=2, backoff=0
    )
    with pytest.raises(
        SynthesisError,
        match=r"marytts: synthesis of sib200/dev/3/bod_Tibt failed after 3 "
        r"attempts: .*HTTP 500: No voice for locale xx",
    ):
        backend.synthesize("ཀ", "bod_Tibt", text_id="sib200/dev/3/bod_Tibt")
    assert len(_MaryHandler.seen) == 3


def test_marytts_unreachable_server():
    backend = get_backend(
        "marytts", url="http://127.0.0.1:9", retries=1, backoff=0, timeout=2
    )
    with pytest.raises(
        SynthesisError, match=r"marytts: synthesis of t1 failed after 2 attempts"
    ):
        backend.synthesize("hello", "eng_Latn", text_id="t1")
