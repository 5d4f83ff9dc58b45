"""Machine translation of corpus texts through an OpenAI-compatible chat completions
API.

The paper built its parallel mms corpus by translating Chinese reviews into Tibetan and
Burmese with GPT-4. :class:`OpenAITranslator` does the same against any server that
speaks ``POST /v1/chat/completions`` (OpenAI, vLLM, llama.cpp, a local proxy), and plugs
into :func:`mlcl_core.corpora.load_mms` as its ``translate`` step.

Every translation is appended to a disk cache as soon as its batch returns, so a run
that is interrupted (or fails on one row) resumes where it stopped and never pays twice
for a sentence."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlcl_core.corpora import LANGUAGE_NAMES

#: Bumped when the prompt changes, so old cached translations are not reused for a new
#: prompt.
PROMPT_VERSION = 1

SYSTEM_PROMPT = (
    "You are a professional translator. Translate each sentence from {source} into "
    "{target}. "
    "Keep the meaning, tone, names and numbers; translate everything, add no notes or "
    "explanations. "
    "The user sends a JSON array of sentences. Answer with only a JSON array of "
    "strings: the "
    "translations, in the same order, exactly one per input sentence."
)

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class TranslationError(RuntimeError):
    """A translation request failed for good; the message names the rows and the
    reason."""


def default_cache_dir() -> Path:
    """Where translations are cached unless told otherwise
    (``$XDG_CACHE_HOME/mlcl_core/translations``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlcl_core" / "translations"


class TranslationCache:
    """Append-only JSONL store of translations for one (model, source, target) triple.

    A line is ``{"key": sha256 of the text, "translation": ...}``. A line cut short by a
    kill is skipped on load, so the cache stays usable after any interruption."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._items: dict[str, str] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    self._items[record["key"]] = record["translation"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a partial last line from an interrupted write

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, text: str) -> str | None:
        return self._items.get(self.key(text))

    def put_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Store (text, translation) pairs and flush them to disk at once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for text, translation in pairs:
                self._items[self.key(text)] = translation
                fh.write(
                    json.dumps(
                        {"key": self.key(text), "translation": translation},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
            fh.flush()
            os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self._items)


def _chat_url(base_url: str) -> str:
    """The chat completions endpoint for a base URL given with or without ``/v1``."""
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return (
        f"{base}/chat/completions"
        if base.endswith("/v1")
        else f"{base}/v1/chat/completions"
    )


def _parse_array(content: str, n: int) -> list[str] | None:
    """The JSON array of ``n`` strings in a model's answer (code fences allowed), else
    None."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(v, str) for v in value)
    ):
        return value
    return None


class OpenAITranslator:
    """Translate texts with an OpenAI-compatible ``/v1/chat/completions`` server.

    Args:
        base_url: server root, e.g. ``https://api.openai.com/v1`` or
        ``http://127.0.0.1:8000``.
        api_key: bearer token; ``None`` reads ``OPENAI_API_KEY`` and sends no header if
            unset (local servers often need none).
        model: model name sent with each request (the paper used ``gpt-4``).
        batch_size: sentences per request, sent as a JSON array; a batch whose answer is
            not an array of the right length is retried one sentence per request.
        timeout: seconds to wait for one HTTP response.
        max_retries: retries of a request after a connection error, a timeout, HTTP 429
            or a 5xx, waiting ``backoff * 2**attempt`` seconds (or the server's
            ``Retry-After``).
        backoff: first wait in seconds.
        cache_dir: directory of the translation cache (default
        :func:`default_cache_dir`).
        temperature: sampling temperature; 0 keeps translations reproducible.
        sleep: the wait function (tests pass a fake one).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "gpt-4",
        batch_size: int = 10,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        cache_dir: str | Path | None = None,
        temperature: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be non-negative, got {max_retries}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.url = _chat_url(base_url)
        self.api_key = (
            api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        )
        self.model, self.batch_size, self.timeout = model, batch_size, timeout
        self.max_retries, self.backoff, self.temperature = (
            max_retries,
            backoff,
            temperature,
        )
        self.cache_dir = (
            Path(cache_dir) if cache_dir is not None else default_cache_dir()
        )
        self._sleep = sleep
        self._session: Any = (
            None  # a requests.Session, created on first use (import stays light)
        )

    def cache(self, source: str, target: str) -> TranslationCache:
        """The cache of one language pair for this model and prompt."""
        safe_model = re.sub(r"[^A-Za-z0-9._-]", "_", self.model)
        return TranslationCache(
            self.cache_dir
            / f"{safe_model}__{source}__{target}__p{PROMPT_VERSION}.jsonl"
        )

    def __call__(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        ids: Sequence[str] | None = None,
    ) -> list[str]:
        """Translations of ``texts`` from ``source`` into ``target`` (language codes),
        in order.

        ``ids`` name the rows in error messages (default: their positions). Texts
        already in the cache are not sent again."""
        texts = list(texts)
        ids = (
            [str(i) for i in ids]
            if ids is not None
            else [str(i) for i in range(len(texts))]
        )
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        for text, idx in zip(texts, ids):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"text of id {idx} is empty; nothing to translate")
        cache = self.cache(source, target)
        todo: list[int] = []
        # send each distinct text once, even when the corpus repeats one
        queued: set[str] = set()
        for i, text in enumerate(texts):
            if text not in queued and cache.get(text) is None:
                queued.add(text)
                todo.append(i)
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            out = self._translate_batch(
                [texts[i] for i in batch], [ids[i] for i in batch], source, target
            )
            cache.put_many([(texts[i], t) for i, t in zip(batch, out)])
        return [cache.get(text) for text in texts]  # type: ignore[misc]

    def _translate_batch(
        self, texts: list[str], ids: list[str], source: str, target: str
    ) -> list[str]:
        """One request for the batch; if its answer does not parse, one request per
        sentence."""
        content = self._request(texts, ids, source, target)
        out = _parse_array(content, len(texts))
        if out is None and len(texts) == 1:
            # a single sentence may come back without the JSON array
            out = [content.strip()]
        if out is None:
            return [
                self._translate_batch([t], [i], source, target)[0]
                for t, i in zip(texts, ids)
            ]
        for text, idx in zip(out, ids):
            if not text.strip():
                raise TranslationError(
                    f"{self.url}: empty translation into {target} for id {idx}"
                )
        return [text.strip() for text in out]

    def _request(
        self, texts: list[str], ids: list[str], source: str, target: str
    ) -> str:
        """POST one chat completion, retrying transient failures; the answer's text."""
        import requests  # only when translating

        if self._session is None:
            self._session = requests.Session()
        names = {
            "source": LANGUAGE_NAMES.get(source, source),
            "target": LANGUAGE_NAMES.get(target, target),
        }
        body = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(**names)},
                {"role": "user", "content": json.dumps(texts, ensure_ascii=False)},
            ],
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        rows = _name_rows(ids)
        last = ""
        for attempt in range(self.max_retries + 1):
            wait = self.backoff * 2**attempt
            try:
                resp = self._session.post(
                    self.url, json=body, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                last = f"{type(err).__name__}: {err}"
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()["choices"][0]["message"]["content"]
                    except (ValueError, KeyError, IndexError, TypeError):
                        last = f"malformed response: {resp.text[:200]!r}"
                elif resp.status_code in _RETRY_STATUS:
                    last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                    wait = _retry_after(resp, wait)
                else:  # 400, 401, 404...: retrying will not help
                    raise TranslationError(
                        f"{self.url}: HTTP {resp.status_code} translating {rows} "
                        f"into {target}: {resp.text[:300]}"
                    )
            if attempt < self.max_retries:
                self._sleep(wait)
        raise TranslationError(
            f"{self.url}: translating {rows} into {target} failed after "
            f"{self.max_retries + 1} attempts; last error: {last}"
        )


def _retry_after(resp: Any, default: float) -> float:
    """Seconds the server asks us to wait (``Retry-After``), capped at a minute."""
    try:
        return min(float(resp.headers.get("Retry-After", default)), 60.0)
    except ValueError:
        return default


def _name_rows(ids: list[str]) -> str:
    """'id 7' or 'ids 7, 8, 9' for error messages."""
    return f"id {ids[0]}" if len(ids) == 1 else f"ids {', '.join(ids)}"
