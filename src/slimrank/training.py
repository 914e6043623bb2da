"""Fine-tune a cross-encoder on training groups: a lean, deterministic, resumable loop.

Why not the Hugging Face ``Trainer``: the study needs bitwise-reproducible runs that resume
from a checkpoint to the same final weights, pruning hooks after every optimizer step and
model selection by a ranking metric on reranked BM25 candidates. A hundred lines of plain
PyTorch state that precisely.

Determinism: everything is seeded from ``settings.seed``; the group order of epoch ``e`` is a
function of ``(seed, e)`` only; a checkpoint stores model, optimizer, scheduler, the RNG states
of python, numpy and torch, the step and the position in the group stream, so a resumed run
continues exactly where the interrupted one stood (bitwise on CPU; on CUDA as far as the
kernels are deterministic).

``work_dir`` holds:

- ``checkpoint.pt``: the latest checkpoint (``torch.load(..., weights_only=True)`` loads it),
  including the weights of the best model so far, so it alone is enough to resume;
- ``best/``: the best model so far as a Hugging Face folder, for inspection.

If ``checkpoint.pt`` exists when training starts, training resumes from it (after checking it
was written by the same settings, groups and model spec). Delete ``work_dir`` to start over.

Callbacks (e.g. pruning) are plain objects with any of these methods, called in list order::

    on_train_begin(model)                    # after the weights are loaded or restored,
                                             # on a fresh start and on every resume
    on_step_end(model, step, total_steps)    # after optimizer.step(); step counts from 1

Both run under ``torch.no_grad()``. For resume to reproduce a run, a callback must be a
function of the model and the step (e.g. re-derive masks from zeros in ``on_train_begin``),
``on_train_begin`` must be idempotent, and weights must be changed in place (multiply by a
mask) rather than re-parametrised (``torch.nn.utils.prune``), so the state dict keys stay those
of a plain model. Evaluation and checkpoints happen after the callbacks of a step. With
gradual pruning, set ``select_after_step`` to the step where the final sparsity is reached so
that a denser early model cannot be selected as the best.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from slimrank.models import (
    PRECISIONS,
    autocast,
    encode_pairs,
    load_cross_encoder,
    pick_device,
    resolve_precision,
    save_cross_encoder,
)
from slimrank.pairs import TrainingGroup
from slimrank.rerank import rerank_run
from slimrank.trec import atomic_output

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best"
CHECKPOINT_FORMAT = 1
LOSSES = ("bce", "lce")
SELECT_METRICS = ("mrr@10", "ndcg@10")
# Settings that change neither the weights nor the model selection may differ on resume.
_RESUME_FREE_SETTINGS = ("checkpoint_every", "log_every", "device")


@dataclass
class TrainSettings:
    """Hyper-parameters of one fine-tuning run (a config section maps onto it 1:1).

    ``batch_size`` is the number of groups per forward pass; one optimizer step sees
    ``batch_size * grad_accum_steps`` groups. ``max_steps`` (optimizer steps) wins over
    ``epochs`` when set. ``eval_every``/``checkpoint_every`` of 0 mean "only at the end".
    ``head_lr`` (default: ``lr``) is the learning rate of the task head, the parameters outside
    the pre-trained encoder (``classifier.*`` of a BERT model), which start from random values.
    ``forward_pairs`` (default: all at once) scores a micro-batch's pairs in length-sorted chunks
    of this many: the loss is the same function of the same logits, with less padding (on a
    2-core CPU, chunks of 8 make the passes of a 32-pair step about 28% faster and the whole
    training about 15%). ``precision``: ``fp32``, ``bf16`` (autocast) or ``auto``, resolved by
    :func:`slimrank.models.resolve_precision` for the training device when training starts;
    the summary records the one used.
    """

    loss: str = "lce"
    lr: float = 2e-5
    head_lr: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 8
    grad_accum_steps: int = 1
    max_steps: int | None = None
    epochs: float = 1.0
    max_length: int = 128
    forward_pairs: int | None = None
    max_grad_norm: float | None = 1.0
    precision: str = "fp32"
    seed: int = 42
    eval_every: int = 0
    checkpoint_every: int = 0
    select_metric: str = "mrr@10"
    select_after_step: int = 0
    eval_depth: int = 100
    eval_batch_size: int = 64
    log_every: int = 50
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(
                f"select_metric must be one of {SELECT_METRICS}, got {self.select_metric!r}"
            )
        positive = ("batch_size", "grad_accum_steps", "max_length", "eval_depth")
        for name in positive + ("eval_batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "select_after_step"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.forward_pairs is not None and self.forward_pairs < 1:
            raise ValueError(f"forward_pairs must be >= 1 or None, got {self.forward_pairs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.max_steps is None and self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        for name in ("lr", "head_lr"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if not 0.0 <= self.warmup_ratio <= 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")

    def total_steps(self, n_groups: int) -> int:
        """Optimizer steps for ``n_groups`` training groups."""
        if self.max_steps is not None:
            return self.max_steps
        per_step = self.batch_size * self.grad_accum_steps
        return max(1, math.ceil(self.epochs * n_groups / per_step))


# ----------------------------------------------------------------------------- data order


def group_order(n_groups: int, seed: int, epoch: int) -> list[int]:
    """The order of the groups in ``epoch``: a function of ``(seed, epoch)`` only."""
    order = list(range(n_groups))
    random.Random(f"{seed}:epoch:{epoch}").shuffle(order)
    return order


class GroupStream:
    """Endless stream of group indices, epoch after epoch, resumable from any position.

    Batches run across epoch boundaries, so position ``p`` is simply the ``p``-th index of the
    concatenated epoch orders and a checkpoint only needs to store ``p``.
    """

    def __init__(self, n_groups: int, seed: int, position: int = 0) -> None:
        if n_groups < 1:
            raise ValueError("no training groups")
        self.n_groups, self.seed, self.position = n_groups, seed, position
        self._epoch = -1
        self._order: list[int] = []

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            epoch, offset = divmod(self.position, self.n_groups)
            if epoch != self._epoch:
                self._epoch, self._order = epoch, group_order(self.n_groups, self.seed, epoch)
            n = min(k - len(out), self.n_groups - offset)
            out.extend(self._order[offset : offset + n])
            self.position += n
        return out


def groups_fingerprint(groups: Sequence[TrainingGroup]) -> str:
    """SHA-256 of the groups, so a checkpoint is never resumed on different data."""
    digest = hashlib.sha256()
    for g in groups:
        digest.update(json.dumps([g.qid, g.positive, list(g.negatives)]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


# ----------------------------------------------------------------------------- loss


def _pair_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts_q: Sequence[str],
    texts_p: Sequence[str],
    settings: TrainSettings,
    device: torch.device,
) -> torch.Tensor:
    """One float32 logit per pair, in the order given.

    With ``settings.forward_pairs`` the pairs are scored in chunks of pairs of similar length
    (each chunk padded to its own longest pair) and the logits put back in order.
    """

    def forward(chunk_q: Sequence[str], chunk_p: Sequence[str]) -> torch.Tensor:
        inputs = encode_pairs(tokenizer, chunk_q, chunk_p, settings.max_length).to(device)
        with autocast(device, settings.precision):
            return model(**inputs).logits.squeeze(-1).float()

    n = len(texts_q)
    if settings.forward_pairs is None or settings.forward_pairs >= n:
        return forward(texts_q, texts_p)
    encoded = tokenizer(
        list(texts_q), list(texts_p), truncation="longest_first", max_length=settings.max_length
    )
    order = sorted(range(n), key=lambda i: len(encoded["input_ids"][i]))
    parts = []
    for start in range(0, n, settings.forward_pairs):
        index = order[start : start + settings.forward_pairs]
        chunk_q, chunk_p = [texts_q[i] for i in index], [texts_p[i] for i in index]
        parts.append(forward(chunk_q, chunk_p))
    # argsort of a permutation is its inverse: where each pair went in the sorted order.
    inverse = torch.argsort(torch.tensor(order)).to(device)
    return torch.cat(parts)[inverse]


def group_loss(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: Sequence[TrainingGroup],
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    settings: TrainSettings,
    device: torch.device,
) -> tuple[torch.Tensor, int]:
    """Loss of one micro-batch of groups and the number of pairs it scored.

    ``bce``: every (query, passage) pair is a binary example, label 1 for the positive.
    ``lce``: each group is one softmax over ``[positive] + negatives``, cross-entropy on the
    positive (localized contrastive estimation; groups may differ in size).
    """
    texts_q: list[str] = []
    texts_p: list[str] = []
    sizes: list[int] = []
    for group in batch:
        docids = (group.positive, *group.negatives)
        texts_q.extend([queries[group.qid]] * len(docids))
        texts_p.extend(collection[d] for d in docids)
        sizes.append(len(docids))
    logits = _pair_logits(model, tokenizer, texts_q, texts_p, settings, device)
    if settings.loss == "bce":
        labels = torch.zeros_like(logits)
        labels[list(itertools.accumulate([0, *sizes[:-1]]))] = 1.0  # positives come first
        loss = F.binary_cross_entropy_with_logits(logits, labels)
    else:
        per_group = [-torch.log_softmax(chunk, dim=0)[0] for chunk in logits.split(sizes)]
        loss = torch.stack(per_group).mean()
    return loss, len(texts_q)


# ----------------------------------------------------------------------------- state


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _rng_state() -> dict[str, Any]:
    # numpy's state holds an ndarray; stored as a list so weights_only loading accepts it.
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _make_optimizer(model: PreTrainedModel, settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW; biases and LayerNorm weights (the 1-d parameters) get no weight decay.

    The head (everything outside ``model.base_model_prefix``) learns at ``head_lr``.
    """
    encoder = f"{model.base_model_prefix}."
    head_lr = settings.head_lr if settings.head_lr is not None else settings.lr
    groups = []
    for in_head, lr in ((False, settings.lr), (True, head_lr)):
        params = [
            p
            for name, p in model.named_parameters()
            if p.requires_grad and (not name.startswith(encoder)) == in_head
        ]
        decayed = [p for p in params if p.ndim >= 2]
        groups += [
            {"params": decayed, "weight_decay": settings.weight_decay, "lr": lr},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": lr},
        ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=settings.lr)


def _make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then linear decay; no step runs at learning rate 0.

    The factor for 0-based step ``s`` is ``(s + 1) / warmup`` during warm-up, then
    ``(total - s) / (total - warmup)``: the last step still learns a little.
    """
    warmup = round(warmup_ratio * total_steps)

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        return max(0.0, (total_steps - s) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _resume_key(
    settings: TrainSettings, model_spec: str, groups: Sequence[TrainingGroup]
) -> dict[str, Any]:
    """What must be equal for a checkpoint to be resumable by this call."""
    trajectory = {k: v for k, v in asdict(settings).items() if k not in _RESUME_FREE_SETTINGS}
    return {"settings": trajectory, "model": model_spec, "groups": groups_fingerprint(groups)}


def validation_score(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    settings: TrainSettings,
    device: torch.device,
) -> float:
    """``settings.select_metric`` of the model reranking the judged queries of ``run``.

    Judged queries missing from the run count as 0 (ranx ``make_comparable``).
    """
    from ranx import Qrels, Run, evaluate  # numba start-up cost only when evaluating

    judged_run = {qid: docs for qid, docs in run.items() if qid in qrels}
    reranked = rerank_run(
        model,
        tokenizer,
        judged_run,
        queries,
        collection,
        depth=settings.eval_depth,
        batch_size=settings.eval_batch_size,
        max_length=settings.max_length,
        device=device,
        precision=settings.precision,
        progress=False,
    )
    qrels_copy = {q: {d: int(g) for d, g in docs.items()} for q, docs in qrels.items()}
    return float(
        evaluate(Qrels(qrels_copy), Run(reranked), settings.select_metric, make_comparable=True)
    )


def _check_texts(
    groups: Sequence[TrainingGroup], queries: Mapping[str, str], collection: Mapping[str, str]
) -> None:
    missing_q = sorted({g.qid for g in groups if g.qid not in queries})
    missing_d = sorted(
        {d for g in groups for d in (g.positive, *g.negatives) if d not in collection}
    )
    if missing_q or missing_d:
        raise ValueError(
            f"training groups reference {len(missing_q)} queries without text "
            f"(e.g. {missing_q[:3]}) and {len(missing_d)} passages missing from the "
            f"collection (e.g. {missing_d[:3]})"
        )


# ----------------------------------------------------------------------------- training


def train_cross_encoder(
    model_spec_or_path: str | os.PathLike,
    groups: Sequence[TrainingGroup],
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    valid_queries: Mapping[str, str],
    valid_qrels: Mapping[str, Mapping[str, int]],
    valid_run: Mapping[str, Mapping[str, float]],
    settings: TrainSettings,
    out_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    callbacks: Sequence[Any] = (),
    log: Callable[[str], None] = print,
    restart_stale: bool = True,
) -> dict[str, Any]:
    """Fine-tune a cross-encoder, select the best validation step, save it to ``out_dir``.

    ``model_spec_or_path`` is anything :func:`slimrank.models.resolve_model_path` accepts.
    Validation reranks the top ``eval_depth`` of ``valid_run`` (judged queries only) every
    ``eval_every`` steps and at the end; the best ``select_metric`` among evaluations at step
    ``>= select_after_step`` wins (earliest on ties). Checkpoints go to ``work_dir`` every
    ``checkpoint_every`` steps and at the end; an existing checkpoint is resumed. A checkpoint
    written by other settings, model or groups is an error, unless ``restart_stale`` (the
    workflow's choice: it reruns a job precisely because its settings or inputs changed), in
    which case it is deleted and training starts over.

    Returns a JSON-serialisable summary: ``best_step``, ``best_score``, ``steps``,
    ``resumed_from`` (step or None), ``history`` ([step, score] pairs), ``loss_history``,
    ``train_seconds`` and ``pairs_per_second`` (this process only: after a resume, the resumed
    part), ``eval_seconds`` and more.
    """
    if not groups:
        raise ValueError("no training groups")
    _check_texts(groups, queries, collection)
    device = pick_device(settings.device)
    # Resolved before anything else: the resume key and the summary hold the precision used.
    settings = replace(settings, precision=resolve_precision(settings.precision, device))
    if device.type == "cuda":
        # cuBLAS needs this for deterministic matmuls; it must be set before cuBLAS starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    # warn_only: an op without a deterministic kernel warns instead of failing a long run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _train(
            str(model_spec_or_path),
            groups,
            queries,
            collection,
            valid_queries,
            valid_qrels,
            valid_run,
            settings,
            Path(out_dir),
            Path(work_dir),
            callbacks,
            log,
            device,
            restart_stale,
        )
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def _call(callbacks: Sequence[Any], method: str, *args: Any) -> None:
    for callback in callbacks:
        hook = getattr(callback, method, None)
        if hook is not None:
            with torch.no_grad():
                hook(*args)


def _train(
    model_spec: str,
    groups: Sequence[TrainingGroup],
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    valid_queries: Mapping[str, str],
    valid_qrels: Mapping[str, Mapping[str, int]],
    valid_run: Mapping[str, Mapping[str, float]],
    settings: TrainSettings,
    out_dir: Path,
    work_dir: Path,
    callbacks: Sequence[Any],
    log: Callable[[str], None],
    device: torch.device,
    restart_stale: bool,
) -> dict[str, Any]:
    total_steps = settings.total_steps(len(groups))
    if settings.select_after_step > total_steps:
        raise ValueError(
            f"select_after_step={settings.select_after_step} is beyond the last step "
            f"({total_steps}): no evaluation could be selected"
        )
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = work_dir / CHECKPOINT_NAME
    resume_key = _resume_key(settings, model_spec, groups)

    # Seed before loading: a new classification head is drawn from torch's RNG.
    _seed_everything(settings.seed)
    model, tokenizer = load_cross_encoder(model_spec, device=device)
    optimizer = _make_optimizer(model, settings)
    scheduler = _make_scheduler(optimizer, total_steps, settings.warmup_ratio)

    step, position = 0, 0
    best_step: int | None = None
    best_score: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    history: list[list[float]] = []
    loss_history: list[list[float]] = []
    loss_window = [0.0, 0]  # loss sum and steps since the last loss log line
    resumed_from: int | None = None
    ckpt = None
    if checkpoint_path.exists():
        ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("resume_key") != resume_key:
            if not restart_stale:
                raise ValueError(
                    f"{checkpoint_path} was written by different settings, model or training "
                    f"groups; delete {work_dir} to start over"
                )
            log(f"{checkpoint_path} is from other settings, model or groups: starting over")
            checkpoint_path.unlink()
            ckpt = None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, position = ckpt["step"], ckpt["position"]
        best_step, best_score, best_state = ckpt["best_step"], ckpt["best_score"], ckpt["best"]
        history, loss_history = ckpt["history"], ckpt["loss_history"]
        loss_window = ckpt["loss_window"]
        _set_rng_state(ckpt["rng"])
        resumed_from = step
        log(f"resuming from {checkpoint_path} at step {step}/{total_steps}")
    _call(callbacks, "on_train_begin", model)
    stream = GroupStream(len(groups), settings.seed, position)

    def evaluate_now() -> None:
        nonlocal best_step, best_score, best_state
        score = validation_score(
            model,
            tokenizer,
            valid_queries,
            collection,
            valid_qrels,
            valid_run,
            settings,
            device,
        )
        history.append([step, score])
        better = best_score is None or score > best_score
        if step >= settings.select_after_step and better:
            best_step, best_score = step, score
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            save_cross_encoder(model, tokenizer, work_dir / BEST_NAME)
        mark = " (best)" if best_step == step else ""
        log(f"step {step}/{total_steps}: valid {settings.select_metric} {score:.4f}{mark}")

    def save_checkpoint() -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "resume_key": resume_key,
            "step": step,
            "position": stream.position,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "best_step": best_step,
            "best_score": best_score,
            "best": best_state,
            "history": history,
            "loss_history": loss_history,
            "loss_window": loss_window,
        }
        with atomic_output(checkpoint_path, "wb") as handle:
            torch.save(state, handle)

    pairs_trained, train_seconds, eval_seconds = 0, 0.0, 0.0
    model.train()
    progress = tqdm(total=total_steps, initial=step, desc="training", unit="step")
    while step < total_steps:
        started = time.perf_counter()
        step_loss = 0.0
        for _ in range(settings.grad_accum_steps):
            batch = [groups[i] for i in stream.take(settings.batch_size)]
            loss, n_pairs = group_loss(
                model, tokenizer, batch, queries, collection, settings, device
            )
            (loss / settings.grad_accum_steps).backward()
            step_loss += loss.item() / settings.grad_accum_steps
            pairs_trained += n_pairs
        if settings.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
        lr = optimizer.param_groups[0]["lr"]  # the rate this step used
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        _call(callbacks, "on_step_end", model, step, total_steps)
        train_seconds += time.perf_counter() - started

        loss_window = [loss_window[0] + step_loss, loss_window[1] + 1]
        progress.update(1)
        progress.set_postfix(loss=f"{step_loss:.4f}")
        if step % settings.log_every == 0 or step == total_steps:
            mean_loss = loss_window[0] / loss_window[1]
            loss_history.append([step, mean_loss])
            log(f"step {step}/{total_steps}: loss {mean_loss:.4f} lr {lr:.3g}")
            loss_window = [0.0, 0]
        if (settings.eval_every and step % settings.eval_every == 0) or step == total_steps:
            started = time.perf_counter()
            evaluate_now()
            eval_seconds += time.perf_counter() - started
        if (
            settings.checkpoint_every and step % settings.checkpoint_every == 0
        ) or step == total_steps:
            save_checkpoint()
    progress.close()

    assert best_state is not None and best_step is not None  # the final step is eligible
    model.load_state_dict(best_state)
    model.eval()
    save_cross_encoder(model, tokenizer, out_dir)
    log(f"saved step {best_step} ({settings.select_metric} {best_score:.4f}) to {out_dir}")
    return {
        "best_step": best_step,
        "best_score": best_score,
        "select_metric": settings.select_metric,
        "steps": step,
        "resumed_from": resumed_from,
        "history": history,
        "loss_history": loss_history,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "pairs_trained": pairs_trained,
        "pairs_per_second": pairs_trained / train_seconds if train_seconds else None,
        "groups": len(groups),
        "device": str(device),
        "precision": settings.precision,
        "settings": asdict(settings),
    }
