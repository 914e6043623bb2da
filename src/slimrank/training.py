"""Fine-tune a cross-encoder on training groups: a lean, deterministic, resumable loop.

Why not the Hugging Face ``Trainer``: the study needs bitwise-reproducible runs that resume
from a checkpoint to the same final weights, pruning hooks after every optimizer step and
model selection by a ranking metric on reranked BM25 candidates. A short loop of plain
PyTorch states that precisely: the losses are in :mod:`slimrank.losses`, the state a checkpoint
restores in :mod:`slimrank.training_state`, the scoring in :class:`slimrank.rerank.Reranker`.

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
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from slimrank.losses import LOSSES, Distillation, group_loss
from slimrank.models import (
    PRECISIONS,
    load_cross_encoder,
    pick_device,
    resolve_precision,
    save_cross_encoder,
)
from slimrank.pairs import TrainingGroup
from slimrank.rerank import Reranker
from slimrank.training_state import (
    CHECKPOINT_NAME,
    GroupStream,
    TrainingState,
    groups_fingerprint,
    seed_everything,
)

BEST_NAME = "best"
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

    The defaults are the config schema's (``training``; ``max_length`` is ``model.max_length``,
    ``precision`` the top-level ``precision`` and ``seed`` the top-level ``seed``, which a null
    ``training.seed`` stands for): ``tests/test_config.py`` checks that they agree.
    """

    loss: str = "lce"
    lr: float = 5e-5
    head_lr: float | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 8
    grad_accum_steps: int = 1
    max_steps: int | None = None
    epochs: float = 1.0
    max_length: int = 192
    forward_pairs: int | None = None
    max_grad_norm: float | None = 1.0
    precision: str = "auto"
    seed: int = 13
    eval_every: int = 80
    checkpoint_every: int = 40
    select_metric: str = "mrr@10"
    select_after_step: int = 0
    eval_depth: int = 20
    eval_batch_size: int = 64
    log_every: int = 20
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

    def groups_drawn(self, n_groups: int) -> list[int]:
        """The indices of the groups a run draws, in order: the first
        ``total_steps * batch_size * grad_accum_steps`` of the run's :class:`GroupStream`
        (the teacher scores exactly these for a distilled student)."""
        per_step = self.batch_size * self.grad_accum_steps
        return GroupStream(n_groups, self.seed).take(self.total_steps(n_groups) * per_step)


# ----------------------------------------------------------------------------- pieces


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
    settings: TrainSettings,
    model_spec: str,
    groups: Sequence[TrainingGroup],
    distill: Distillation | None = None,
) -> dict[str, Any]:
    """What must be equal for a checkpoint to be resumable by this call (a distilled student's
    also holds its distillation settings and a fingerprint of the teacher's scores)."""
    trajectory = {k: v for k, v in asdict(settings).items() if k not in _RESUME_FREE_SETTINGS}
    key = {"settings": trajectory, "model": model_spec, "groups": groups_fingerprint(groups)}
    if distill is not None:
        key["distill"] = _distill_record(distill)
    return key


def _distill_record(distill: Distillation) -> dict[str, Any]:
    """The distillation settings and a SHA-256 of the teacher's scores (keys sorted)."""
    digest = hashlib.sha256()
    for (qid, docid), score in sorted(distill.scores.items()):
        digest.update(f"{qid}\t{docid}\t{score!r}\n".encode())
    return {
        "loss": distill.loss,
        "temperature": distill.temperature,
        "kd_weight": distill.kd_weight,
        "label_weight": distill.label_weight,
        "teacher_scores": digest.hexdigest(),
    }


@dataclass(frozen=True)
class Validation:
    """The valid split and how training scores a model on it.

    :meth:`score` is ``metric`` of the model reranking the top ``depth`` of ``run`` for the
    judged queries (``batch_size`` pairs a batch); judged queries missing from the run count as
    0 (ranx ``make_comparable``).
    """

    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]
    run: Mapping[str, Mapping[str, float]]
    collection: Mapping[str, str]
    metric: str
    depth: int
    batch_size: int

    def score(self, reranker: Reranker) -> float:
        from ranx import Qrels, Run, evaluate  # numba start-up cost only when evaluating

        judged_run = {qid: docs for qid, docs in self.run.items() if qid in self.qrels}
        reranked = reranker.rerank(
            judged_run,
            self.queries,
            self.collection,
            depth=self.depth,
            batch_size=self.batch_size,
            progress=False,
        )
        qrels = {q: {d: int(g) for d, g in docs.items()} for q, docs in self.qrels.items()}
        return float(evaluate(Qrels(qrels), Run(reranked), self.metric, make_comparable=True))


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
    distill: Distillation | None = None,
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
    validation = Validation(
        valid_queries,
        valid_qrels,
        valid_run,
        collection,
        metric=settings.select_metric,
        depth=settings.eval_depth,
        batch_size=settings.eval_batch_size,
    )
    if device.type == "cuda":
        # cuBLAS needs this for deterministic matmuls; it must be set before cuBLAS starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    # warn_only: an op without a deterministic kernel warns instead of failing a long run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        run = _TrainingRun(
            str(model_spec_or_path), groups, queries, collection, validation, settings,
            Path(work_dir), callbacks, log, device, distill,
        )  # fmt: skip
        run.resume(restart_stale)
        run.train()
        return run.finish(Path(out_dir))
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


class _TrainingRun:
    """One call of :func:`train_cross_encoder`: its inputs, its :class:`Reranker` (the model
    being trained), its :class:`TrainingState` and the timings of this process."""

    def __init__(
        self,
        model_spec: str,
        groups: Sequence[TrainingGroup],
        queries: Mapping[str, str],
        collection: Mapping[str, str],
        validation: Validation,
        settings: TrainSettings,
        work_dir: Path,
        callbacks: Sequence[Any],
        log: Callable[[str], None],
        device: torch.device,
        distill: Distillation | None = None,
    ) -> None:
        self.groups, self.queries, self.collection = groups, queries, collection
        self.distill = distill
        self.validation, self.settings, self.work_dir = validation, settings, work_dir
        self.callbacks, self.log, self.device = callbacks, log, device
        self.total_steps = settings.total_steps(len(groups))
        if settings.select_after_step > self.total_steps:
            raise ValueError(
                f"select_after_step={settings.select_after_step} is beyond the last step "
                f"({self.total_steps}): no evaluation could be selected"
            )
        work_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = work_dir / CHECKPOINT_NAME
        self.resume_key = _resume_key(settings, model_spec, groups, distill)
        # Seed before loading: a new classification head is drawn from torch's RNG.
        seed_everything(settings.seed)
        model, tokenizer = load_cross_encoder(model_spec, device=device)
        self.reranker = Reranker(model, tokenizer, device, settings.precision, settings.max_length)
        optimizer = _make_optimizer(model, settings)
        scheduler = _make_scheduler(optimizer, self.total_steps, settings.warmup_ratio)
        stream = GroupStream(len(groups), settings.seed)
        self.state = TrainingState(model, optimizer, scheduler, stream)
        self.resumed_from: int | None = None
        self.pairs_trained, self.train_seconds, self.eval_seconds = 0, 0.0, 0.0

    def resume(self, restart_stale: bool) -> None:
        """Restore the checkpoint of an interrupted run, if any, then begin the callbacks."""
        if self.state.resume(self.checkpoint_path, self.resume_key, restart_stale, self.log):
            self.resumed_from = self.state.step
            self.log(
                f"resuming from {self.checkpoint_path} at step {self.state.step}/{self.total_steps}"
            )
        _call(self.callbacks, "on_train_begin", self.reranker.model)

    def train(self) -> None:
        """Optimizer steps up to the last, each followed by its logging, validation and
        checkpoint where they are due."""
        state, settings = self.state, self.settings
        state.model.train()
        progress = tqdm(total=self.total_steps, initial=state.step, desc="training", unit="step")
        while state.step < self.total_steps:
            started = time.perf_counter()
            step_loss, lr = self._optimizer_step()
            self.train_seconds += time.perf_counter() - started
            state.loss_window = [state.loss_window[0] + step_loss, state.loss_window[1] + 1]
            progress.update(1)
            progress.set_postfix(loss=f"{step_loss:.4f}")
            last = state.step == self.total_steps
            if state.step % settings.log_every == 0 or last:
                mean_loss = state.loss_window[0] / state.loss_window[1]
                state.loss_history.append([state.step, mean_loss])
                self.log(f"step {state.step}/{self.total_steps}: loss {mean_loss:.4f} lr {lr:.3g}")
                state.loss_window = [0.0, 0]
            if (settings.eval_every and state.step % settings.eval_every == 0) or last:
                started = time.perf_counter()
                self._validate()
                self.eval_seconds += time.perf_counter() - started
            if (settings.checkpoint_every and state.step % settings.checkpoint_every == 0) or last:
                state.save(self.checkpoint_path, self.resume_key)
        progress.close()

    def _optimizer_step(self) -> tuple[float, float]:
        """One optimizer step over ``grad_accum_steps`` micro-batches, then the callbacks;
        returns the step's loss and the learning rate it used."""
        state, settings = self.state, self.settings
        step_loss = 0.0
        for _ in range(settings.grad_accum_steps):
            batch = [self.groups[i] for i in state.stream.take(settings.batch_size)]
            loss, n_pairs = group_loss(
                self.reranker, batch, self.queries, self.collection,
                loss=settings.loss, forward_pairs=settings.forward_pairs, distill=self.distill,
            )  # fmt: skip
            (loss / settings.grad_accum_steps).backward()
            step_loss += loss.item() / settings.grad_accum_steps
            self.pairs_trained += n_pairs
        if settings.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(state.model.parameters(), settings.max_grad_norm)
        lr = state.optimizer.param_groups[0]["lr"]  # the rate this step used
        state.optimizer.step()
        state.scheduler.step()
        state.optimizer.zero_grad(set_to_none=True)
        state.step += 1
        _call(self.callbacks, "on_step_end", state.model, state.step, self.total_steps)
        return step_loss, lr

    def _validate(self) -> None:
        """Score the model on the valid split; keep it as the best if it is (and may be)."""
        state, model = self.state, self.reranker.model
        score = self.validation.score(self.reranker)
        state.history.append([state.step, score])
        better = state.best_score is None or score > state.best_score
        if state.step >= self.settings.select_after_step and better:
            state.best_step, state.best_score = state.step, score
            state.best = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            save_cross_encoder(model, self.reranker.tokenizer, self.work_dir / BEST_NAME)
        mark = " (best)" if state.best_step == state.step else ""
        metric = self.settings.select_metric
        self.log(f"step {state.step}/{self.total_steps}: valid {metric} {score:.4f}{mark}")

    def finish(self, out_dir: Path) -> dict[str, Any]:
        """Save the best model to ``out_dir``; return the summary."""
        state, settings = self.state, self.settings
        assert state.best is not None and state.best_step is not None  # the last step is eligible
        state.model.load_state_dict(state.best)
        state.model.eval()
        save_cross_encoder(state.model, self.reranker.tokenizer, out_dir)
        self.log(
            f"saved step {state.best_step} ({settings.select_metric} {state.best_score:.4f}) "
            f"to {out_dir}"
        )
        summary = {
            "best_step": state.best_step,
            "best_score": state.best_score,
            "select_metric": settings.select_metric,
            "steps": state.step,
            "resumed_from": self.resumed_from,
            "history": state.history,
            "loss_history": state.loss_history,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "pairs_trained": self.pairs_trained,
            "pairs_per_second": (
                self.pairs_trained / self.train_seconds if self.train_seconds else None
            ),
            "groups": len(self.groups),
            "device": str(self.device),
            "precision": settings.precision,
            "settings": asdict(settings),
        }
        if self.distill is not None:
            summary["distillation"] = _distill_record(self.distill)
        return summary


def _call(callbacks: Sequence[Any], method: str, *args: Any) -> None:
    for callback in callbacks:
        hook = getattr(callback, method, None)
        if hook is not None:
            with torch.no_grad():
                hook(*args)
