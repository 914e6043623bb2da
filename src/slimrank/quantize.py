"""int8 dynamic quantization of a cross-encoder (bf16 is autocast in ``slimrank.models``).

**int8 dynamic quantization** (``torch.ao.quantization.quantize_dynamic``) replaces every
``nn.Linear`` by a module that stores its weight as int8 (per-tensor affine scale and zero
point from the weight's min/max) and quantizes each input batch on the fly, so it needs no
calibration data and no retraining. In torch 2.13 the function still works but is marked
deprecated (the warning asks users to move to torchao's ``quantize_``, which is not a
dependency of this project and targets GPUs first). It is used anyway because it is the
CPU int8 path that ships with torch itself; the two deprecation warnings it emits are silenced
here, where the choice is documented, instead of flooding every log.

The quantized modules are CPU-only (x86/fbgemm or qnnpack kernels) and hold packed weights
that ``save_pretrained`` cannot write as safetensors. Quantization is deterministic (same fp32
weights, same int8 weights), so the workflow never stores an int8 checkpoint:
:func:`load_quantized` rebuilds the int8 model from the fp32 model folder in well under a
second.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from slimrank.models import load_cross_encoder

# The messages torch 2.13 emits for the eager-mode quantization API (see the module docstring).
_QUANT_WARNINGS = (
    r"torch\.ao\.quantization is deprecated",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantized to int8 (CPU only).

    All Linear layers are quantized (encoder, pooler, head), as in PyTorch's BERT dynamic
    quantization recipe; embeddings and LayerNorms stay float32, so the copy still has float
    parameters and :class:`slimrank.rerank.Reranker` finds its device as usual. The copy is
    in eval mode; ``model`` is left untouched.
    """
    if _model_device(model).type != "cpu":
        raise ValueError("int8 dynamic quantization runs on the CPU only; move the model first")
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            for message in _QUANT_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            quantized = torch.ao.quantization.quantize_dynamic(
                model, {nn.Linear}, dtype=torch.qint8, inplace=False
            )
    finally:
        model.train(was_training)
    return quantized.eval()


def is_quantized(model: nn.Module) -> bool:
    """Whether ``model`` holds dynamically quantized Linear layers."""
    return any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.modules())


def load_quantized(
    model_dir: str | os.PathLike,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the fp32 cross-encoder in ``model_dir`` and return ``(int8 model, tokenizer)``, on
    the CPU. Quantization is deterministic: the same int8 model every time, which is why no
    int8 weights are ever stored.
    """
    model, tokenizer = load_cross_encoder(model_dir)
    return quantize_dynamic_int8(model), tokenizer
