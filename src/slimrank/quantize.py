"""int8 quantization of a cross-encoder through torchao (bf16: ``slimrank.rerank``).

**int8** is torchao's ``Int8DynamicActivationInt8WeightConfig`` (torchao 0.18): every
``nn.Linear`` weight is stored as int8 with one scale per output channel, and each input is
quantized on the fly to int8 with one scale per token, so the matmuls run in int8
(``torch._int_mm``; u8s8 with AVX512-VNNI) and need no calibration data and no retraining.
It replaces ``torch.ao.quantization.quantize_dynamic``, deprecated in torch 2.13, whose
activation scale was one per *tensor*: a pair's score then depended on which other pairs
(and how much padding) shared its batch. Per-token scales remove that dependence as far as the
arithmetic goes; what remains is rounding: an fp32 summation order that differs by 1e-5 between
batch shapes can move an activation across an int8 rounding boundary
(tests/test_efficiency.py measures both).

Quantization is deterministic (same fp32 weights, same int8 weights), so the workflow never
stores an int8 checkpoint: :func:`load_quantized` rebuilds the int8 model from the fp32 model
folder in well under a second. torchao is imported here only, when a model is quantized.
"""

from __future__ import annotations

import copy
import logging
import os

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from slimrank.models import load_cross_encoder


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _torchao():
    """torchao's quantization API. Its import logs a warning per CUDA extension it cannot load
    on a CPU-only machine; those say nothing about the CPU kernels used here, so they are
    silenced for the import."""
    logger = logging.getLogger("torchao")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    finally:
        logger.setLevel(level)
    return quantize_, Int8DynamicActivationInt8WeightConfig


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` quantized to int8 (per-channel weights,
    per-token dynamic activations; CPU only).

    All Linear layers are quantized (encoder, pooler, head); embeddings and LayerNorms stay
    float32, so :class:`slimrank.rerank.Reranker` finds the model's device as usual. The copy
    is in eval mode; ``model`` is left untouched.
    """
    if _model_device(model).type != "cpu":
        raise ValueError("int8 quantization runs on the CPU here; move the model first")
    quantize_, config = _torchao()
    quantized = copy.deepcopy(model).eval()
    quantize_(quantized, config())
    return quantized


def is_quantized(model: nn.Module) -> bool:
    """Whether ``model`` holds int8 quantized Linear weights."""
    return any(
        isinstance(m, nn.Linear) and type(m.weight).__name__ == "Int8Tensor"
        for m in model.modules()
    )


def load_quantized(
    model_dir: str | os.PathLike,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the fp32 cross-encoder in ``model_dir`` and return ``(int8 model, tokenizer)``, on
    the CPU. Quantization is deterministic: the same int8 model every time, which is why no
    int8 weights are ever stored.
    """
    model, tokenizer = load_cross_encoder(model_dir)
    return quantize_dynamic_int8(model), tokenizer
