"""The state of a fine-tuning run, and its checkpoint: one list of fields, written and read here.

A checkpoint is what a resumed run needs to continue exactly where the interrupted one stood:
model, optimizer and scheduler, the RNG states of python, numpy and torch, the step, the
position in the group stream, the best model so far and the histories. It is a plain dict of
tensors and python values, so ``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slimrank.pairs import TrainingGroup
from slimrank.trec import atomic_output

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
#: The fields of a checkpoint after ``format`` and ``resume_key``, in the order written: the
#: attributes of :class:`TrainingState` of those names. ``model``, ``optimizer`` and
#: ``scheduler`` are stored as their state dicts; ``rng`` is the RNG states.
CHECKPOINT_FIELDS = (
    "step",
    "position",
    "model",
    "optimizer",
    "scheduler",
    "rng",
    "best_step",
    "best_score",
    "best",
    "history",
    "loss_history",
    "loss_window",
)
_STATE_DICTS = ("model", "optimizer", "scheduler")


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


# ----------------------------------------------------------------------------- RNG
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict[str, Any]:
    # numpy's state holds an ndarray; stored as a list so weights_only loading accepts it.
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- state
@dataclass(eq=False)
class TrainingState:
    """Everything that changes while training runs and that a checkpoint restores.

    ``position`` (of the group stream) and ``rng`` (the process's RNG states) are read and set
    through the stream and the generators themselves; ``best`` is the best model's weights on
    the CPU; histories are ``[step, value]`` pairs; ``loss_window`` the loss sum and step count
    since the last loss log line.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    stream: GroupStream
    step: int = 0
    best_step: int | None = None
    best_score: float | None = None
    best: dict[str, torch.Tensor] | None = None
    history: list[list[float]] = field(default_factory=list)
    loss_history: list[list[float]] = field(default_factory=list)
    loss_window: list[float] = field(default_factory=lambda: [0.0, 0])

    @property
    def position(self) -> int:
        return self.stream.position

    @position.setter
    def position(self, value: int) -> None:
        self.stream.position = value

    @property
    def rng(self) -> dict[str, Any]:
        return rng_state()

    @rng.setter
    def rng(self, state: Mapping[str, Any]) -> None:
        set_rng_state(state)

    def state_dict(self) -> dict[str, Any]:
        """The :data:`CHECKPOINT_FIELDS`, in order."""
        return {
            name: getattr(self, name).state_dict() if name in _STATE_DICTS else getattr(self, name)
            for name in CHECKPOINT_FIELDS
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore every one of the :data:`CHECKPOINT_FIELDS` from ``state``."""
        for name in CHECKPOINT_FIELDS:
            if name in _STATE_DICTS:
                getattr(self, name).load_state_dict(state[name])
            else:
                setattr(self, name, state[name])

    def save(self, path: Path, resume_key: Mapping[str, Any]) -> None:
        """Write the checkpoint to ``path`` atomically."""
        checkpoint = {"format": CHECKPOINT_FORMAT, "resume_key": resume_key, **self.state_dict()}
        with atomic_output(path, "wb") as handle:
            torch.save(checkpoint, handle)

    def resume(
        self,
        path: Path,
        resume_key: Mapping[str, Any],
        restart_stale: bool,
        log: Callable[[str], None],
    ) -> bool:
        """Restore the checkpoint at ``path`` if there is one written with ``resume_key``.

        A checkpoint from another key is an error, unless ``restart_stale``: then it is
        deleted. Returns whether a checkpoint was restored.
        """
        if not path.exists():
            return False
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if checkpoint.get("format") != CHECKPOINT_FORMAT or (
            checkpoint.get("resume_key") != resume_key
        ):
            if not restart_stale:
                raise ValueError(
                    f"{path} was written by different settings, model or training groups; "
                    f"delete {path.parent} to start over"
                )
            log(f"{path} is from other settings, model or groups: starting over")
            path.unlink()
            return False
        self.load_state_dict(checkpoint)
        return True
