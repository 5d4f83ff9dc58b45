"""Tests for mlcl_core.translation against a loopback stub of the chat completions
API."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from mlcl_core import translation
from mlcl_core.corpora import load_mms
from mlcl_core.translation import OpenAITranslator, TranslationError


class StubState:
    """What the stub server received, and how it answers the next requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.plan: list[str] = []  # behaviours for the next requests, in order
        self.default = "ok"


def _answer(
    handler: BaseHTTPRequestHandler, status: int, payload, headers: dict | None = None
) -> None:
    body = (
        payload
        if isinstance(payload, bytes)
        else json.dumps(payload, ensure_ascii=False).encode()
    )
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    try:
        handler.wfile.write(body)
    # the client gave up first (the timeout test): nothing to answer
    except BrokenPipeError:
        pass


def _completion(content: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


def _make_handler(state: StubState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "body": body,
                }
            )
            behaviour = state.plan.pop(0) if state.plan else state.default
            sentences = json.loads(body["messages"][-1]["content"])
            translated = [f"T({s})" for s in sentences]
            if behaviour == "ok":
                _answer(
                    self, 200, _completion(json.dumps(translated, ensure_ascii=False))
                )
            elif behaviour == "fenced":
                _answer(
                    self,
                    200,
                    _completion(
                        "```json\n"
                        + json.dumps(translated, ensure_ascii=False)
                        + "\n```"
                    ),
                )
            elif behaviour == "plain":  # not a JSON array: one sentence in plain text
                _answer(self, 200, _completion(" ".join(translated)))
            elif behaviour == "empty":
                _answer(self, 200, _completion(json.dumps([""] * len(sentences))))
            elif behaviour == "malformed":
                _answer(self, 200, {"unexpected": True})
            elif behaviour == "500":
                _answer(self, 500, {"error": {"message": "internal error"}})
            elif behaviour == "429":
                _answer(
                    self,
                    429,
                    {"error": {"message": "slow down"}},
                    {"Retry-After": "0.25"},
                )
            elif behaviour == "400":
                _answer(self, 400, {"error": {"message": "bad model"}})
            elif behaviour == "slow":
                time.sleep(0.6)
                _answer(
                    self, 200, _completion(json.dumps(translated, ensure_ascii=False))
                )
            else:
                raise AssertionError(behaviour)

    return Handler


@pytest.fixture
def stub():
    state = StubState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeps():
    return []


def _translator(url, tmp_path, sleeps, **kwargs) -> OpenAITranslator:
    kwargs.setdefault("backoff", 0.5)
    return OpenAITranslator(
        url, cache_dir=tmp_path / "cache", sleep=sleeps.append, **kwargs
    )


def test_translates_in_batches(stub, tmp_path, sleeps):
    url, state = stub
    tr = _translator(
        url, tmp_path, sleeps, api_key="sk-test", batch_size=2, model="gpt-4"
    )
    out = tr(["一", "二", "三", "四", "五"], "zho_Hans", "bod_Tibt")
    assert out == ["T(一)", "T(二)", "T(三)", "T(四)", "T(五)"]
    assert len(state.requests) == 3
    first = state.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "gpt-4"
    assert first["body"]["temperature"] == 0.0
    system = first["body"]["messages"][0]["content"]
    assert "from Chinese into Tibetan" in system and "JSON array" in system
    assert json.loads(first["body"]["messages"][1]["content"]) == ["一", "二"]
    assert sleeps == []


def test_retries_after_500_then_succeeds(stub, tmp_path, sleeps):
    url, state = stub
    state.plan = ["500"]
    out = _translator(url, tmp_path, sleeps)(["你好"], "zho_Hans", "mya_Mymr")
    assert out == ["T(你好)"]
    assert len(state.requests) == 2
    assert sleeps == [0.5]


def test_permanent_failure_names_rows(stub, tmp_path, sleeps):
    url, state = stub
    state.default = "500"
    tr = _translator(url, tmp_path, sleeps, max_retries=3, batch_size=2)
    with pytest.raises(
        TranslationError,
        match=r"ids r7, r8 into bod_Tibt failed after 4 attempts.*HTTP 500",
    ):
        tr(["a", "b"], "zho_Hans", "bod_Tibt", ids=["r7", "r8"])
    assert len(state.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]  # exponential backoff


def test_client_error_is_not_retried(stub, tmp_path, sleeps):
    url, state = stub
    state.default = "400"
    with pytest.raises(
        TranslationError, match=r"HTTP 400 translating id 12 into bod_Tibt.*bad model"
    ):
        _translator(url, tmp_path, sleeps)(["a"], "zho_Hans", "bod_Tibt", ids=[12])
    assert len(state.requests) == 1 and sleeps == []


def test_retry_after_and_malformed_responses_are_retried(stub, tmp_path, sleeps):
    url, state = stub
    state.plan = ["429", "malformed"]
    assert _translator(url, tmp_path, sleeps)(["a"], "zho_Hans", "bod_Tibt") == ["T(a)"]
    assert len(state.requests) == 3
    # the server's Retry-After, then the backoff of attempt 2
    assert sleeps == [
        0.25,
        1.0,
    ]


def test_timeout_is_retried(stub, tmp_path, sleeps):
    url, state = stub
    state.plan = ["slow"]
    tr = _translator(url, tmp_path, sleeps, timeout=0.2)
    assert tr(["a"], "zho_Hans", "bod_Tibt") == ["T(a)"]
    assert len(state.requests) == 2 and sleeps == [0.5]


def test_connection_refused_names_rows(tmp_path, sleeps):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tr = _translator(f"http://127.0.0.1:{port}/v1", tmp_path, sleeps, max_retries=1)
    with pytest.raises(
        TranslationError,
        match=r"id 3 into bod_Tibt failed after 2 attempts.*ConnectionError",
    ):
        tr(["a"], "zho_Hans", "bod_Tibt", ids=["3"])
    assert sleeps == [0.5]


def test_cache_resumes_an_interrupted_run(stub, tmp_path, sleeps):
    url, state = stub
    texts = ["a", "b", "c", "d"]
    state.plan = ["ok", "400"]  # the second batch fails for good
    with pytest.raises(TranslationError, match="ids 2, 3"):
        _translator(url, tmp_path, sleeps, batch_size=2)(texts, "zho_Hans", "bod_Tibt")
    # A new translator (a new process, say) sends only what is missing.
    state.requests.clear()
    out = _translator(url, tmp_path, sleeps, batch_size=2)(
        texts, "zho_Hans", "bod_Tibt"
    )
    assert out == ["T(a)", "T(b)", "T(c)", "T(d)"]
    assert [
        json.loads(r["body"]["messages"][1]["content"]) for r in state.requests
    ] == [["c", "d"]]
    # Everything cached: no request at all. Another language pair or model is cached
    # apart.
    state.requests.clear()
    assert (
        _translator(url, tmp_path, sleeps, batch_size=2)(texts, "zho_Hans", "bod_Tibt")
        == out
    )
    assert state.requests == []
    _translator(url, tmp_path, sleeps, batch_size=2)(texts, "zho_Hans", "mya_Mymr")
    _translator(url, tmp_path, sleeps, batch_size=2, model="other")(
        texts, "zho_Hans", "bod_Tibt"
    )
    assert len(state.requests) == 4


def test_cache_survives_a_cut_last_line(stub, tmp_path, sleeps):
    url, state = stub
    tr = _translator(url, tmp_path, sleeps)
    tr(["a", "b"], "zho_Hans", "bod_Tibt")
    path = tr.cache("zho_Hans", "bod_Tibt").path
    path.write_text(
        path.read_text(encoding="utf-8") + '{"key": "abc", "transl', encoding="utf-8"
    )
    state.requests.clear()
    assert len(tr.cache("zho_Hans", "bod_Tibt")) == 2
    assert tr(["a", "b"], "zho_Hans", "bod_Tibt") == ["T(a)", "T(b)"]
    assert state.requests == []


def test_repeated_texts_are_sent_once(stub, tmp_path, sleeps):
    url, state = stub
    out = _translator(url, tmp_path, sleeps, batch_size=10)(
        ["a", "b", "a"], "zho_Hans", "bod_Tibt"
    )
    assert out == ["T(a)", "T(b)", "T(a)"]
    assert json.loads(state.requests[0]["body"]["messages"][1]["content"]) == ["a", "b"]


def test_unparsable_batch_falls_back_to_single_sentences(stub, tmp_path, sleeps):
    url, state = stub
    state.plan = ["plain", "fenced", "plain"]  # batch answer unusable; then one by one
    out = _translator(url, tmp_path, sleeps, batch_size=2)(
        ["a", "b"], "zho_Hans", "bod_Tibt"
    )
    assert out == ["T(a)", "T(b)"]
    assert len(state.requests) == 3


def test_empty_translation_is_an_error(stub, tmp_path, sleeps):
    url, state = stub
    state.default = "empty"
    with pytest.raises(
        TranslationError, match="empty translation into bod_Tibt for id 5"
    ):
        _translator(url, tmp_path, sleeps)(["a"], "zho_Hans", "bod_Tibt", ids=["5"])


def test_bad_arguments(tmp_path, sleeps):
    with pytest.raises(ValueError, match="batch_size"):
        OpenAITranslator("http://x", batch_size=0)
    with pytest.raises(ValueError, match="timeout"):
        OpenAITranslator("http://x", timeout=0)
    tr = _translator("http://127.0.0.1:9", tmp_path, sleeps)
    with pytest.raises(ValueError, match="text of id b is empty"):
        tr(["x", " "], "zho_Hans", "bod_Tibt", ids=["a", "b"])
    with pytest.raises(ValueError, match="2 ids for 1 texts"):
        tr(["x"], "zho_Hans", "bod_Tibt", ids=["a", "b"])


@pytest.mark.parametrize(
    "base,url",
    [
        ("http://h:1", "http://h:1/v1/chat/completions"),
        ("http://h:1/v1/", "http://h:1/v1/chat/completions"),
        ("https://api.example.com/v1", "https://api.example.com/v1/chat/completions"),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
    ],
)
def test_endpoint_url(base, url):
    assert OpenAITranslator(base).url == url


def test_no_api_key_sends_no_header(stub, tmp_path, sleeps, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url, state = stub
    _translator(url, tmp_path, sleeps)(["a"], "zho_Hans", "bod_Tibt")
    assert state.requests[0]["auth"] is None


def test_default_cache_dir_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert translation.default_cache_dir() == tmp_path / "mlcl_core" / "translations"


def test_load_mms_with_translator(stub, tmp_path, sleeps):
    url, state = stub
    path = tmp_path / "mms.csv"
    pd.DataFrame(
        {
            "_id": ["a1", "a2", "a3"],
            "text": ["好", "坏", "一般"],
            "label": [2, 0, 1],
            "language": ["zh"] * 3,
            "split": ["train", "dev", "test"],
        }
    ).to_csv(path, index=False)
    tr = _translator(url, tmp_path, sleeps, batch_size=2)
    c = load_mms(path, ["zho_Hans", "bod_Tibt", "mya_Mymr"], translate=tr)
    assert list(c.table["bod_Tibt"]) == ["T(好)", "T(坏)", "T(一般)"]
    assert list(c.table["mya_Mymr"]) == ["T(好)", "T(坏)", "T(一般)"]
    assert len(state.requests) == 4
    # A failure names the rows of the file by their ids.
    state.default = "400"
    with pytest.raises(TranslationError, match="ids a1, a2 into eng_Latn"):
        load_mms(path, ["zho_Hans", "eng_Latn"], translate=tr)
