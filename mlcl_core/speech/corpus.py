"""Synthesise a whole corpus into the speech cache: parallel processes, a progress bar,
resumable.

Every (sentence, language) becomes one cache file. Files already in the cache (and
intact) are skipped, and each file is written atomically as soon as it is done, so a
killed run loses nothing finished and a rerun synthesises only what is missing."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import pandas as pd

from mlcl_core.config import SpeechConfig
from mlcl_core.corpora import Corpus
from mlcl_core.display import show_progress

from .base import SAMPLE_RATE, SpeechBackend, SynthesisError, get_backend
from .cache import SpeechCache, cache_key

#: (key, text, lang, text_id) of one utterance to make.
Job = tuple[str, str, str, str]

_WORKER: dict[str, Any] = {}


def _init_worker(backend: str, opts: dict, cache_dir: str) -> None:
    """Build the backend and cache once per worker process (espeak's state is per
    process)."""
    _WORKER.update(backend=get_backend(backend, **opts), cache=SpeechCache(cache_dir))


def _work(jobs: list[Job]) -> list[tuple[str, float, bool]]:
    """(key, seconds, newly synthesised) for each job; intact cached files are
    reused."""
    backend: SpeechBackend = _WORKER["backend"]
    cache: SpeechCache = _WORKER["cache"]
    done = []
    for key, text, lang, text_id in jobs:
        wave = cache.get(key)
        made = wave is None
        if made:
            try:
                wave = backend.synthesize(text, lang, text_id=text_id)
            except SynthesisError:
                raise
            except Exception as err:  # name the utterance whatever the backend raised
                raise SynthesisError(
                    f"{backend.name}: synthesis of {text_id} failed: {err}"
                ) from err
            cache.put(key, wave)
        cache.mark_verified(key, len(wave) / SAMPLE_RATE)
        done.append((key, len(wave) / SAMPLE_RATE, made))
    return done


def plan_jobs(
    corpus: Corpus,
    backend: SpeechBackend,
    languages: Sequence[str],
    stand_ins: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[Job]]:
    """The output table (without ``seconds``) and the distinct jobs it needs.
    ``stand_ins``: language -> the language whose voice reads it (:mod:`.fallback`)."""
    version = backend.version
    frames, jobs = [], {}
    for lang in languages:
        speak_as = (stand_ins or {}).get(lang, lang)
        voice = backend.voice(speak_as)  # NoVoiceError before any work
        t = corpus.table
        # The key holds the voice that speaks (a stand-in's, if any), not the language.
        keys = [cache_key(backend.name, voice, version, text) for text in t[lang]]
        ids = [
            f"{corpus.name}/{s}/{i}/{lang}"
            for s, i in zip(t["split"], t["id"], strict=True)
        ]
        frames.append(
            pd.DataFrame(
                {
                    "id": t["id"],
                    "split": t["split"],
                    "lang": lang,
                    "key": keys,
                    "text_id": ids,
                }
            )
        )
        for key, text, text_id in zip(keys, t[lang], ids, strict=True):
            jobs.setdefault(key, (key, text, speak_as, text_id))
    return pd.concat(frames, ignore_index=True), list(jobs.values())


def synthesize_corpus(
    corpus: Corpus,
    backend: str = "espeak",
    cache_dir: str = "~/.cache/mlcl/speech",
    workers: int = 2,
    languages: Sequence[str] | None = None,
    progress: bool = True,
    chunk_size: int = 32,
    stand_ins: Mapping[str, str] | None = None,
    **opts: Any,
) -> pd.DataFrame:
    """Speech for every sentence and language of ``corpus`` (a
    :class:`~mlcl_core.corpora.Corpus`).

    Returns one row per (id, split, lang) with ``path`` (the cache file), ``seconds``
    and ``text_id`` (``<corpus>/<split>/<id>/<lang>``, as named in errors).
    ``attrs['synthesized']`` counts the files made in this call (the rest came from the
    cache). ``opts`` go to the backend. ``stand_ins`` maps a language to the one whose
    voice reads it (:mod:`.fallback`)."""
    languages = tuple(languages or corpus.languages)
    missing = [lang for lang in languages if lang not in corpus.table.columns]
    if missing:
        raise ValueError(
            f"language(s) {missing} not in corpus {corpus.name!r}; it has "
            f"{list(corpus.languages)}"
        )
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cache = SpeechCache(cache_dir)
    table, jobs = plan_jobs(corpus, get_backend(backend, **opts), languages, stand_ins)
    # files verified earlier and unchanged since are not decoded again
    known = cache.verified_seconds([job[0] for job in jobs])
    jobs = [job for job in jobs if job[0] not in known]
    chunks = [jobs[i : i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    results = [(key, seconds, False) for key, seconds in known.items()]
    results += _run_chunks(
        chunks, (backend, opts, str(cache.root)), workers, progress, len(jobs)
    )
    table["seconds"] = table["key"].map({k: s for k, s, _ in results})
    table["path"] = [str(cache.path(k)) for k in table["key"]]
    table = table[["id", "split", "lang", "path", "seconds", "text_id"]]
    table.attrs["synthesized"] = sum(made for _, _, made in results)
    return table


def _run_chunks(
    chunks: list[list[Job]], init: tuple, workers: int, progress: bool, total: int
) -> list:
    """Run ``_work`` over the chunks, in this process (workers=1) or a process pool."""
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        desc=f"speech ({init[0]})",
        unit="utt",
        disable=not show_progress(progress),
    )
    results: list = []
    try:
        if workers == 1 or len(chunks) <= 1:
            _init_worker(*init)
            for chunk in chunks:
                results += _work(chunk)
                bar.update(len(chunk))
            return results
        with ProcessPoolExecutor(
            max_workers=min(workers, len(chunks)),
            initializer=_init_worker,
            initargs=init,
        ) as pool:
            futures = {pool.submit(_work, chunk): len(chunk) for chunk in chunks}
            try:
                for fut in as_completed(futures):
                    results += fut.result()  # re-raises a worker's SynthesisError here
                    bar.update(futures[fut])
            except BaseException:
                # finished files stay in the cache
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return results
    finally:
        bar.close()


def corpus_audio(
    corpus: Corpus,
    speech_cfg: SpeechConfig,
    languages: Sequence[str] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`synthesize_corpus` driven by a :class:`~mlcl_core.config.SpeechConfig`,
    with its stand-in voices (:func:`.fallback.stand_ins`) for languages without one."""
    from .fallback import backend_options, stand_ins

    languages = tuple(languages or corpus.languages)
    # Languages not in the corpus get their clear error from synthesize_corpus.
    known = [lang for lang in languages if lang in corpus.table.columns]
    readers = {lang: s.reads_as for lang, s in stand_ins(speech_cfg, known).items()}
    return synthesize_corpus(
        corpus,
        backend=speech_cfg.backend,
        cache_dir=os.path.expanduser(speech_cfg.cache_dir),
        workers=speech_cfg.workers,
        languages=languages,
        progress=progress,
        stand_ins=readers,
        **backend_options(speech_cfg),
    )


def synthesis_speed(
    corpus: Corpus,
    n: int = 60,
    backend: str = "espeak",
    workers: int = 2,
    languages: Sequence[str] | None = None,
    stand_ins: Mapping[str, str] | None = None,
    **opts: Any,
) -> dict[str, float]:
    """Measure synthesis speed: the first ``n`` sentences in each language, synthesised
    into a fresh temporary cache (so nothing comes from an earlier run). Returns
    utterances, audio_seconds, wall_seconds (process start-up included) and
    x_realtime."""
    import dataclasses
    import tempfile
    import time

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    sample = dataclasses.replace(corpus, table=corpus.table.head(n))
    with tempfile.TemporaryDirectory(prefix="mlcl-speed-") as tmp:
        start = time.perf_counter()
        table = synthesize_corpus(
            sample,
            backend,
            tmp,
            workers,
            languages,
            progress=False,
            stand_ins=stand_ins,
            **opts,
        )
        wall = time.perf_counter() - start
    audio = float(table["seconds"].sum())
    return {
        "utterances": len(table),
        "audio_seconds": audio,
        "wall_seconds": wall,
        "x_realtime": audio / wall,
        "workers": workers,
    }
