"""Training-speed benchmark of MLCL (issue 8): the naive step against the project's.

One run trains, on the same data, device, geometry, initial weights and batches:

* ``naive``: the step as the paper describes it: fp32, the raw audio through the whole
  wav2vec2 (convolutional feature extractor included) every step, eager attention, a
  Python loop over the languages in the audio encoder;
* ``before``: the project's path as it was before issue 8: cached frozen features, the
  loop over languages, eager attention in the text BERT over padded texts, CM-BERT
  fusion of every token, the single-tensor AdamW step, torch's dropout masks (each kept
  selectable);
* ``project``: the project's training path exactly as the trainer runs it today
  (``Trainer._set_lr`` + ``Trainer._train_step`` on ``build_mlcl``'s model, the same
  loader and collate as the book): one audio-encoder call for all languages, the frozen
  bottom of the audio encoder computed once per clip (``mlcl_core/encoders/frozen.py``),
  and the layers above it on real frames only, SDPA attention, the text encoder on
  real tokens only (``encoders/packed.py``) with its own attention on the CPU, the
  fused [CLS] alone and the aligner's linear maps folded into its attention
  (``fusion.py``), the contrastive terms in one batch (``losses.py``), the fused AdamW
  step, the cheaper CPU dropout mask
  (``encoders/dropout.py``). ``project+X`` undoes
  one of them: ``loop``, ``nomemo``, ``eager``, ``padded``, ``sdpa``, ``fullgrid``,
  ``fullfusion``, ``unfolded``, ``allaudio``, ``unfused``, ``torchdropout``,
  ``paddedaudio``, ``unbatched``.

The rows go over the batches ``--passes`` times (default 2, as epochs do) and report
the median step of the last pass: a clip's frozen states are stored in its first pass
and read in every later one (epochs 2 and on, and every evaluation, in a real run).

Every row starts from a deep copy of one model and sees the same batches (one fixed list
of index batches from the book's length-bucketed sampler), with the RNG reseeded before
its first step, so their losses agree up to float (or, on CUDA, bf16) noise. Dropout is
off by default (``--dropout 0``): different attention kernels draw different dropout
masks, which would hide that agreement; ``--dropout -1`` keeps the profile's (0.1 in the
tiny profile's text encoder, 0.3 in its fusion: the setting the book trains in). With
``--dropout 0`` the ``--dropout-rows`` (``before`` and ``project``) then train again
at the profile's dropout from the same weights, and their ratio is printed last.

The speech is synthetic (seeded noise, 60-100 % of ``max_seconds`` long): its content
does not matter for speed, and it needs no speech synthesis. A "sample" is one row, i.e.
one sentence in one language (text + speech); a batch of B sentences in K languages has
K*B.

    python benchmarks/mlcl_speed.py        # tiny profile, CPU (make bench)
    python benchmarks/mlcl_speed.py --profile paper --steps 3 --device cuda
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlcl_speed_naive import NaiveMLCL, WaveDataset, collate_waves  # noqa: E402

import mlcl_core.model as mlcl_model  # noqa: E402
from mlcl_core.batching import ParallelDataset, collate, make_loader  # noqa: E402
from mlcl_core.config import make_config  # noqa: E402
from mlcl_core.corpora import load_sib200  # noqa: E402
from mlcl_core.encoders.dropout import swap_dropout  # noqa: E402
from mlcl_core.features import corpus_features  # noqa: E402
from mlcl_core.model import build_mlcl  # noqa: E402
from mlcl_core.runtime import make_optimizer, seed_everything  # noqa: E402
from mlcl_core.training import Trainer  # noqa: E402

LANGS = ("zho_Hans", "bod_Tibt", "mya_Mymr")
RANDOM_INIT = {
    "text.name_or_path": None,
    "text.pretrained": False,
    "audio.name_or_path": None,
    "audio.pretrained": False,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", choices=("tiny", "paper"), default="tiny")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument(
        "--steps", type=int, default=None, help="timed steps per row (tiny 20, paper 3)"
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed first steps (tiny 2, paper 1)"
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="sentences per batch (profile's)"
    )
    p.add_argument("--adapter", default=None, help="adapter kind (profile's default)")
    p.add_argument(
        "--dropout", type=float, default=0.0, help="-1: the profile's dropout"
    )
    p.add_argument(
        "--rows",
        default="naive,before,project+nomemo,project,project@1",
        help="rows to run; NAME@N runs that row's steps on N CPU threads;"
        " project+loop / project+eager / project+nomemo undo one change of the"
        " project row (project+unfused: the single-tensor optimiser step;"
        " project+padded: the text encoder over the padding too;"
        " project+fullfusion: CM-BERT fusion of every token, not [CLS] alone;"
        " project+sdpa: SDPA's attention in the packed text encoder;"
        " project+unfolded: the aligner's query map, attention and P_a as three"
        " modules;"
        " project+torchdropout: torch's bernoulli_ dropout masks;"
        " project+fullgrid: the text attention grid in one block, padded to the"
        " batch's longest text;"
        " project+allaudio: the fused [CLS]'s audio products from every token's"
        " aligned audio;"
        " project+paddedaudio: the audio layers above the frozen prefix over the"
        " padded frames;"
        " project+unbatched: the contrastive NT-Xent terms one call each)",
    )
    p.add_argument(
        "--dropout-rows",
        default="before,project",
        help="with --dropout 0: these rows again at the profile's dropout (the"
        " setting the book trains in), after the others ('': skip)",
    )
    p.add_argument(
        "--pgd-steps", type=int, default=None, help="text-baseline steps (0: skip)"
    )
    p.add_argument(
        "--passes",
        type=int,
        default=2,
        help="passes over the batches (epochs); the last one is timed",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    paper = args.profile == "paper"
    args.steps = args.steps if args.steps is not None else (3 if paper else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if paper else 2)
    args.pgd_steps = (
        args.pgd_steps if args.pgd_steps is not None else (2 if paper else 6)
    )
    if args.steps < 1 or args.warmup < 0 or args.passes < 1:
        p.error("--steps and --passes must be >= 1 and --warmup >= 0")
    return args


def make_cfg(args: argparse.Namespace):
    """The profile's config, random init, on ``args.device``."""
    over = {"device": args.device, "seed": args.seed}
    if args.profile == "paper":
        over.update(RANDOM_INIT)
    if args.batch_size:
        over["batch_size"] = args.batch_size
    if args.adapter:
        over["adapter.kind"] = args.adapter
    if args.dropout >= 0:
        over.update({"text.dropout": args.dropout, "fusion.dropout": args.dropout})
    return make_config(args.profile, **over)


def synthetic_speech(corpus, max_seconds: float, seed: int):
    """A speech table and ``load_wave``: seeded noise, 60-100 % of max_seconds long."""
    rows = [
        (str(i), lang, f"synthetic/{lang}/{i}")
        for lang in corpus.languages
        for i in corpus.table["id"]
    ]
    table = pd.DataFrame(rows, columns=["id", "lang", "path"])

    def load_wave(path: str) -> np.ndarray:
        rng = np.random.default_rng([seed, *path.encode()])
        n = int(16_000 * max_seconds * rng.uniform(0.6, 1.0))
        return (0.1 * rng.standard_normal(n)).astype(np.float32)

    return table, load_wave


def train_only(corpus):
    """The corpus without dev and test rows (less to extract)."""
    from mlcl_core.corpora import Corpus

    table = corpus.table[corpus.table["split"] == "train"].reset_index(drop=True)
    return Corpus(corpus.name, table, corpus.languages, corpus.labels)


class FixedBatches:
    """A batch sampler yielding one fixed list of index batches (same for all rows)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:  # Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM)
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass


def current_mib(device: torch.device) -> float:
    """GPU memory allocated now (CUDA) or the process's resident set size (CPU)."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return _status_mib("VmRSS:")


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib(device: torch.device) -> float:
    """Peak GPU memory allocated (CUDA) or the peak RSS since reset_peak (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _status_mib("VmHWM:")


class Row:
    """One path under test: its model, loader and Trainer, stepped by the Trainer.

    Rows are stepped in turn (one step of each, then the next), so a change in the load
    of a shared machine hits every row alike; each row keeps its own RNG state, so
    dropout masks (when on) do not depend on the interleaving.
    """

    def __init__(
        self,
        name: str,
        model,
        loader,
        train_cfg,
        total_steps: int,
        seed: int,
        threads: int = 0,
        passes: int = 1,
        fused: bool = True,
    ) -> None:
        self.name, self.train_cfg, self.threads = name, train_cfg, threads
        self.trainer = Trainer(model, train_cfg, progress=False)
        if not fused:
            unfuse(self.trainer)
        self.trainer.total_steps = total_steps
        self.device = self.trainer.device
        self.it = itertools.chain.from_iterable(loader for _ in range(passes))
        seed_everything(seed)
        self.rng = torch.get_rng_state()
        self.cuda_rng = (
            torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        )
        self.losses: list[float] = []
        self.times: list[float] = []
        self.transient: list[float] = []
        model.train()

    def step(self, step: int) -> None:
        default_threads = torch.get_num_threads()
        if self.threads:  # this row's CPU thread count, for its own steps only
            torch.set_num_threads(self.threads)
        try:
            self._step(step)
        finally:
            torch.set_num_threads(default_threads)

    def _step(self, step: int) -> None:
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        sync(self.device)
        before = current_mib(self.device)
        reset_peak(self.device)
        start = time.perf_counter()
        batch = next(self.it)
        self.trainer._set_lr(step)
        out = self.trainer._train_step(batch)
        sync(self.device)
        self.times.append(time.perf_counter() - start)
        self.transient.append(peak_mib(self.device) - before)
        self.losses.append(out.loss.item())
        self.rows = out.logits.shape[0]
        self.rng = torch.get_rng_state()
        if self.cuda_rng is not None:
            self.cuda_rng = torch.cuda.get_rng_state_all()

    def summary(self, warmup: int) -> dict:
        step_s = float(np.median(self.times[warmup:]))
        resident = (
            sum(t.numel() * t.element_size() for t in state_tensors(self.trainer))
            / 2**20
        )
        return {
            "row": self.name,
            "step_ms": 1000 * step_s,
            "samples_s": self.rows / step_s,
            "transient_mib": max(self.transient),
            "resident_mib": resident,
            "losses": self.losses,
            "bf16": self.trainer.use_bf16,
        }


def unfuse(trainer: Trainer) -> None:
    """Give ``trainer`` the single-tensor optimiser step of the paths before issue 8."""
    cfg = trainer.cfg
    trainer.optimizer = make_optimizer(
        cfg.optimizer, trainer._param_groups(), cfg.lr, trainer.device, fused=False
    )
    for group in trainer.optimizer.param_groups:
        group["base_lr"] = group["lr"]


def state_tensors(trainer: Trainer):
    """Parameters, buffers and optimiser state of a row (resident between steps)."""
    yield from trainer.model.parameters()
    yield from trainer.model.buffers()
    for st in trainer.optimizer.state.values():
        yield from (v for v in st.values() if torch.is_tensor(v))


@contextmanager
def timers(model, device: torch.device, totals: dict[str, float]):
    """Add the time of the encoders, fusion and losses of each forward to ``totals``."""
    handles, starts = [], {}

    def pre(name):
        def hook(*_):
            sync(device)
            starts[name] = time.perf_counter()

        return hook

    def post(name):
        def hook(*_):
            sync(device)
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - starts[name]

        return hook

    parts = {
        "audio encoder": model.audio_encoder,
        "fusion": model.fusion,
    }
    for name, module in parts.items():
        handles += [
            module.register_forward_pre_hook(pre(name)),
            module.register_forward_hook(post(name)),
        ]
    saved = mlcl_model.mcl_loss, mlcl_model.lcl_loss, mlcl_model.text_states

    def timed(fn, name):
        def wrapper(*a, **kw):
            sync(device)
            t = time.perf_counter()
            value = fn(*a, **kw)
            sync(device)
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - t
            return value

        return wrapper

    mlcl_model.mcl_loss = timed(saved[0], "contrastive losses")
    mlcl_model.lcl_loss = timed(saved[1], "contrastive losses")
    mlcl_model.text_states = timed(saved[2], "text encoder")
    try:
        yield
    finally:
        mlcl_model.mcl_loss, mlcl_model.lcl_loss, mlcl_model.text_states = saved
        for h in handles:
            h.remove()


def breakdown(
    model, loader, cfg, steps: int, seed: int, passes: int = 1
) -> dict[str, float]:
    """Where the time of a project step goes: ms per step and phase (after
    ``passes - 1`` untimed forward passes over the batches, as in later epochs)."""
    trainer = Trainer(model, cfg.train, progress=False)
    device, totals = trainer.device, {}
    model.train()
    with torch.no_grad():
        for _ in range(passes - 1):
            for batch in loader:
                model(trainer_move(trainer, batch))
    seed_everything(seed)
    it = iter(loader)

    def clock(name, fn):
        sync(device)
        t = time.perf_counter()
        value = fn()
        sync(device)
        totals[name] = totals.get(name, 0.0) + time.perf_counter() - t
        return value

    with timers(model, device, totals):
        for _ in range(steps):
            batch = clock(
                "feature loading (loader + to device)",
                lambda: trainer_move(trainer, next(it)),
            )
            trainer.optimizer.zero_grad(set_to_none=True)
            out = clock("forward", lambda b=batch: trainer._forward(b))
            clock("backward", lambda o=out: o.loss.backward())
            clock("clip + optimiser", lambda: optimiser_step(trainer))
    forward = totals.pop("forward")
    inside = sum(
        v
        for k, v in totals.items()
        if k in ("text encoder", "audio encoder", "fusion", "contrastive losses")
    )
    totals["heads, classifier, CE (rest of forward)"] = forward - inside
    return {k: 1000 * v / steps for k, v in totals.items()}


def trainer_move(trainer: Trainer, batch: dict) -> dict:
    from mlcl_core.outputs import move_to

    return move_to(batch, trainer.device)


def optimiser_step(trainer: Trainer) -> None:
    if trainer.cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(
            trainer.model.parameters(), trainer.cfg.grad_clip
        )
    trainer.optimizer.step()


def text_rows(cfg, corpus, args) -> list[dict]:
    """The text baselines' step: Combined, Combined+PGD (the paper's K = 10), PGD with
    full backwards in its search steps (``pgd before``: PGD before issue 8) and PGD
    with the profile's K (``TrainConfig.pgd_steps``) when that is not 10.

    Same init and batches for every row; the rows are stepped in turn (like the MLCL
    rows), each with its own RNG state, so PGD's two paths see the same dropout masks
    and their losses agree."""
    from mlcl_core.baselines import PGD, TextClassifier, adversary_for
    from mlcl_core.encoders import build_text_encoder

    train = corpus.split("train")
    adversaries = {
        "combined": None,
        "combined+pgd": adversary_for("combined+pgd"),  # the paper's K = 10
        "pgd before": PGD(eps=0.01, alpha=0.01, steps=10, full_backwards=True),
    }
    if cfg.train.pgd_steps != 10:  # the profile's K (tiny: 3)
        name = f"pgd K={cfg.train.pgd_steps}"
        adversaries[name] = adversary_for("combined+pgd", cfg.train.pgd_steps)
    rows = []
    for name, adversary in adversaries.items():
        seed_everything(args.seed)
        tok, enc = build_text_encoder(
            cfg.text, [t for lang in LANGS for t in train[lang]]
        )
        model = TextClassifier(
            enc, len(corpus.labels), cfg.text.pooling, cfg.text.dropout
        )
        ds = ParallelDataset(corpus, "train", tok, LANGS, cfg.data.max_text_len)
        loader = make_loader(ds, cfg.train.batch_size, shuffle=True, seed=args.seed)
        trainer = Trainer(model, cfg.train, adversary=adversary, progress=False)
        if name == "pgd before":  # the PGD step before issue 8
            unfuse(trainer)
            model.text_path = "padded"
            swap_dropout(model, nn.Dropout)
        model.train()
        rows.append(
            {
                "row": name,
                "trainer": trainer,
                "it": iter(loader),
                "rng": torch.get_rng_state(),
                "times": [],
                "losses": [],
            }
        )
    for _ in range(args.pgd_steps + 1):  # the first step is a warm-up
        for r in rows:
            torch.set_rng_state(r["rng"])
            sync(r["trainer"].device)
            t = time.perf_counter()
            o = r["trainer"]._train_step(next(r["it"]))
            sync(r["trainer"].device)
            r["times"].append(time.perf_counter() - t)
            r["losses"].append(o.loss.item())
            r["rng"], r["rows"] = torch.get_rng_state(), o.logits.shape[0]
    out = []
    for r in rows:
        step_s = float(np.median(r["times"][1:]))
        out.append(
            {
                "row": r["row"],
                "step_ms": 1000 * step_s,
                "samples_s": r["rows"] / step_s,
                "losses": r["losses"],
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    cfg = make_cfg(args)
    torch.manual_seed(args.seed)
    need = (args.steps + args.warmup) * cfg.train.batch_size
    corpus = train_only(load_sib200(languages=LANGS).select(subset=need))
    if len(corpus.split("train")) < need:
        raise SystemExit(
            f"the train split has {len(corpus.split('train'))} sentences, need {need}"
        )
    table, load_wave = synthetic_speech(corpus, cfg.speech.max_seconds, args.seed)
    t0 = time.perf_counter()
    model = build_mlcl(cfg, corpus)
    feats = corpus_features(cfg, corpus, table, model.audio_encoder, load_wave)
    tokenizer = model.tokenizer
    setup_s = time.perf_counter() - t0
    ds = ParallelDataset(
        corpus, "train", tokenizer, LANGS, cfg.data.max_text_len, feats
    )
    sampler = make_loader(
        ds, cfg.train.batch_size, shuffle=True, seed=args.seed
    ).batch_sampler
    batches = sampler.batches(0)
    batches = [bt for bt in batches if len(bt) == cfg.train.batch_size][
        : need // cfg.train.batch_size
    ]
    init = copy.deepcopy(model.state_dict())
    device = torch.device(
        cfg.train.device
        if cfg.train.device != "auto"
        else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    print(
        f"# MLCL training-speed benchmark: profile {cfg.profile}, device {device}"
        f" ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'},"
        f" {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
        f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}), torch {torch.__version__}"
    )
    print(
        f"# K={len(LANGS)} languages x B={cfg.train.batch_size} sentences per batch,"
        f" {cfg.data.max_text_len} tokens max, {cfg.speech.max_seconds:g} s clips,"
        f" adapters {cfg.adapter.kind},"
        f" text {cfg.text.hidden_size}x{cfg.text.num_layers},"
        f" audio {cfg.audio.hidden_size}x{cfg.audio.num_layers}, dropout"
        f" {cfg.text.dropout:g}; {args.passes} passes over {args.warmup} warm-up +"
        f" {args.steps} steps per row, the last pass timed;"
        f" setup (incl. feature cache) {setup_s:.1f} s"
    )
    results = timed_rows(
        args.rows, model, init, ds, batches, table, load_wave, cfg, args
    )
    report(results, args)
    dropped = []
    if args.dropout == 0 and args.dropout_rows:
        # the same rows with the profile's dropout, from the same weights
        cfg_drop = make_cfg(argparse.Namespace(**{**vars(args), "dropout": -1.0}))
        model_drop = build_mlcl(cfg_drop, corpus)
        dropped = timed_rows(
            args.dropout_rows,
            model_drop,
            init,
            ds,
            batches,
            table,
            load_wave,
            cfg_drop,
            args,
        )
        print(
            f"\n## At the profile's dropout (text {cfg_drop.text.dropout:g}, fusion"
            f" {cfg_drop.fusion.dropout:g}: the setting the book trains in)"
        )
        for r in dropped:
            print(
                f"  {r['row']:10s} step {r['step_ms']:8.1f} ms"
                f"  {r['samples_s']:8.1f} samples/s"
            )
    m = copy.deepcopy(model)
    m.load_state_dict(init)
    loader = DataLoader(ds, batch_sampler=FixedBatches(batches), collate_fn=collate)
    print(
        "\n## Where the time of a project step goes (ms per step, mean of"
        f" {min(args.steps, len(batches))} steps)"
    )
    parts = breakdown(
        m, loader, cfg, min(args.steps, len(batches)), args.seed, args.passes
    )
    total = sum(parts.values())
    for k, v in parts.items():
        print(f"  {k:42s} {v:9.1f}  {100 * v / total:5.1f} %")
    print(f"  {'total':42s} {total:9.1f}")
    if args.pgd_steps:
        print(f"\n## Text baselines, project path ({args.pgd_steps} timed steps)")
        text = {r["row"]: r for r in text_rows(cfg, corpus, args)}
        for r in text.values():
            print(
                f"  {r['row']:14s} step {r['step_ms']:8.1f} ms"
                f"  {r['samples_s']:8.1f} samples/s"
            )
        fast, full = text["combined+pgd"], text["pgd before"]
        diff = np.abs(np.array(fast["losses"]) - np.array(full["losses"])).max()
        print(
            f"  max |combined+pgd - pgd before| loss over {len(full['losses'])}"
            f" steps: {diff:.2e}"
        )
        for name, r in text.items():
            if name != "combined":
                ratio = r["step_ms"] / text["combined"]["step_ms"]
                print(f"  {name} step / combined step: {ratio:.1f}")
    final_ratios(results, dropped)
    if args.pgd_steps:
        pgd_ratio = text["combined+pgd"]["samples_s"] / text["pgd before"]["samples_s"]
        print(f"  combined+pgd / pgd before: {pgd_ratio:.2f}x")
    print(f"# benchmark wall time {time.perf_counter() - began:.0f} s")


def timed_rows(
    specs: str, model, init, ds, batches, table, load_wave, cfg, args
) -> list[dict]:
    """Train the rows of ``specs`` (comma-separated) in turn from ``model`` with the
    weights ``init``, on the same batches; their summaries, in order."""
    rows = []
    for spec in specs.split(","):
        name, _, threads = spec.partition(
            "@"
        )  # project@1: the project row on one thread
        name, *mods = name.split("+")  # project+loop, project+eager: one change undone
        m = copy.deepcopy(model)
        m.load_state_dict(init)
        if name == "naive":
            waves = WaveDataset(ds, table, load_wave, cfg.speech.max_seconds)
            loader = DataLoader(
                waves, batch_sampler=FixedBatches(batches), collate_fn=collate_waves
            )
            net, row_cfg = NaiveMLCL(m), replace(cfg.train, bf16=False)  # fp32
            m.audio_encoder.backbone.set_attn_implementation("eager")
        elif name in ("before", "project"):
            loader = DataLoader(
                ds, batch_sampler=FixedBatches(batches), collate_fn=collate
            )
            net, row_cfg = m, cfg.train
        else:
            raise SystemExit(f"unknown row {name!r}; known: naive, before, project")
        if name != "project" or "loop" in mods:  # the loop over languages
            m.audio_one_call = False
        if name != "project" or "eager" in mods:  # eager text attention
            m.text_encoder.set_attn_implementation("eager")
        if name != "project" or "nomemo" in mods:  # the frozen bottom every step
            m.audio_encoder.memo_prefix = False
        if name != "project" or "padded" in mods:  # BERT over the padding too
            m.text_path = "padded"
        elif "sdpa" in mods:  # packed, but SDPA's attention on the padded layout
            m.text_path = "packed+sdpa"
        elif "fullgrid" in mods:  # the attention grid padded to the longest text
            m.text_path = "packed+fullgrid"
        if name != "project" or "torchdropout" in mods:  # bernoulli_ masks
            swap_dropout(m, nn.Dropout)
        if name != "project" or "fullfusion" in mods:  # every token fused
            m.cls_only_fusion = False
        if name != "project" or "unfolded" in mods:  # query, attention, P_a apart
            m.fusion.aligner.folded = False
        if name != "project" or "allaudio" in mods:  # every token's aligned audio
            m.fusion.aligner.cls_rows = False
        if name != "project" or "paddedaudio" in mods:  # layers above on padding too
            m.audio_encoder.frozen_prefix.packed = False
        if name != "project" or "unbatched" in mods:  # NT-Xent terms one by one
            m.batched_losses = False
        rows.append(
            Row(
                spec,
                net,
                loader,
                row_cfg,
                len(batches) * args.passes,
                args.seed,
                int(threads or 0),
                args.passes,
                fused=name == "project" and "unfused" not in mods,
            )
        )
    for step in range(len(batches) * args.passes):
        for row in rows:
            row.step(step)
    # the median step of the last pass (after the warm-up steps of the first one)
    timed_from = max(args.warmup, (args.passes - 1) * len(batches))
    return [row.summary(timed_from) for row in rows]


def report(results: list[dict], args: argparse.Namespace) -> None:
    print("\n## Rows (same init, same batches; median step time)")
    print(
        f"  {'row':10s} {'bf16':>5s} {'step ms':>9s} {'samples/s':>10s}"
        f" {'step MiB':>9s}"
        f" {'state MiB':>9s}"
    )
    for r in results:
        print(
            f"  {r['row']:10s} {str(r['bf16']):>5s} {r['step_ms']:9.1f}"
            f" {r['samples_s']:10.1f}"
            f" {r['transient_mib']:9.0f} {r['resident_mib']:9.0f}"
        )
    print(
        "  step MiB: peak memory of a step above what was allocated before it"
        " (CUDA: max"
        " allocated;\n  CPU: the process's peak RSS); state MiB: parameters,"
        " buffers and"
        " optimiser state"
    )
    n = min(8, len(results[0]["losses"]))
    print(f"\n## Loss of the first {n} steps")
    print("  step " + " ".join(f"{r['row']:>10s}" for r in results))
    for s in range(n):
        print(f"  {s:4d} " + " ".join(f"{r['losses'][s]:10.5f}" for r in results))
    ref = np.array(results[0]["losses"][:n])
    for r in results[1:]:
        diff = np.abs(np.array(r["losses"][:n]) - ref).max()
        print(f"  max |{r['row']} - {results[0]['row']}| over these steps: {diff:.2e}")


def final_ratios(results: list[dict], dropped: list[dict] = ()) -> None:
    by = {r["row"]: r for r in results}
    print("\n## Speed-up (samples/s ratio)")
    pairs = [("project", "naive"), ("before", "naive"), ("project", "before")]
    pairs += [("project", "project+nomemo")]
    pairs += [(r, "before") for r in by if r.startswith("project@")]
    for num, den in pairs:
        if num in by and den in by:
            print(
                f"  {num} / {den}: {by[num]['samples_s'] / by[den]['samples_s']:.2f}x"
            )
    drop = {r["row"]: r for r in dropped}
    if "project" in drop and "before" in drop:
        ratio = drop["project"]["samples_s"] / drop["before"]["samples_s"]
        print(f"  project / before at the profile's dropout: {ratio:.2f}x")


if __name__ == "__main__":
    main()
