"""What unstructured sparsity can buy: smaller files (a sparse encoding) and sparse kernels.

A pruned checkpoint is stored densely (zeros included), so pruning alone does not shrink the
safetensors file. Two questions the efficiency table answers:

* **Storage.** :func:`encode_sparse` writes each tensor either as is or, when that is smaller,
  as a bitmask of its non-zero elements plus the non-zero values, and gzips the whole; the
  sizes are compared with the plain safetensors file and with gzip of the dense tensors
  (gzip alone already squeezes runs of zeros a little, so it is the fair baseline).
  "Non-zero" is decided on the bit pattern, so ``-0.0`` is kept and the round trip is bitwise.
* **Speed.** :class:`SparseLinear` runs a Linear layer's matmul with the weight in torch's CSR
  format; :func:`sparsify_linears` swaps it in for the encoder's Linear layers. Whether that is
  faster than the dense kernel depends on sparsity, shapes and hardware, which is measured, not
  assumed (:func:`slimrank.efficiency.sparse_linear_speed`).
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from slimrank.params import prunable_linear_weights

#: First bytes of an (uncompressed) sparse container; version 1.
SPARSE_MAGIC = b"SLIMSPARSE\x00\x01"
#: gzip level of the container: 6 (gzip's default) costs ~2x less time than 9 for <1% size.
GZIP_LEVEL = 6


# ----------------------------------------------------------------------------- storage
def _element_bytes(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's raw bytes as a ``(numel, itemsize)`` uint8 matrix (CPU, row-major order)."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).reshape(flat.numel(), tensor.element_size())


def _parse_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r} in sparse container")
    return dtype


def _encode(state_dict: Mapping[str, torch.Tensor], allow_sparse: bool) -> bytes:
    """Container bytes (gzipped): magic, header length, JSON header, then each tensor's blobs."""
    entries: list[dict] = []
    blobs: list[bytes] = []
    offset = 0
    for name, tensor in state_dict.items():
        raw = _element_bytes(tensor)
        numel, itemsize = raw.shape
        entry = {"name": name, "dtype": str(tensor.dtype), "shape": list(tensor.shape)}
        keep = (raw != 0).any(dim=1)  # bitwise non-zero: -0.0 and NaN payloads are kept
        nnz = int(keep.sum())
        mask_bytes = math.ceil(numel / 8)
        if allow_sparse and mask_bytes + nnz * itemsize < numel * itemsize:
            mask = np.packbits(keep.numpy()).tobytes()
            values = raw[keep].numpy().tobytes()
            entry.update(encoding="sparse", nnz=nnz, offset=offset, mask_bytes=len(mask))
            entry["value_bytes"] = len(values)
            blobs += [mask, values]
            offset += len(mask) + len(values)
        else:
            data = raw.numpy().tobytes()
            entry.update(encoding="dense", offset=offset, value_bytes=len(data))
            blobs.append(data)
            offset += len(data)
        entries.append(entry)
    header = json.dumps({"tensors": entries}, separators=(",", ":")).encode()
    payload = b"".join([SPARSE_MAGIC, struct.pack("<Q", len(header)), header, *blobs])
    return gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)


def encode_sparse(state_dict: Mapping[str, torch.Tensor]) -> bytes:
    """Encode tensors compactly: bitmask + non-zero values where smaller, else dense; gzipped.

    A tensor is stored sparse when ``ceil(numel / 8) + nnz * itemsize < numel * itemsize``
    (for float32: more than ~3% zeros), so dense tensors (embeddings, LayerNorms, biases) are
    stored as is. Dtype, shape and order are kept; :func:`decode_sparse` inverts it bitwise.
    The output is deterministic (gzip without a timestamp).
    """
    return _encode(state_dict, allow_sparse=True)


def decode_sparse(data: bytes) -> dict[str, torch.Tensor]:
    """Tensors from :func:`encode_sparse` output, bitwise equal to the encoded ones (CPU)."""
    payload = gzip.decompress(data)
    if not payload.startswith(SPARSE_MAGIC):
        raise ValueError("not a slimrank sparse container (bad magic)")
    start = len(SPARSE_MAGIC)
    (header_len,) = struct.unpack_from("<Q", payload, start)
    start += 8
    header = json.loads(payload[start : start + header_len])
    body = memoryview(payload)[start + header_len :]
    out: dict[str, torch.Tensor] = {}
    for entry in header["tensors"]:
        dtype = _parse_dtype(entry["dtype"])
        shape = tuple(entry["shape"])
        itemsize = torch.empty((), dtype=dtype).element_size()
        numel = math.prod(shape)
        raw = torch.zeros((numel, itemsize), dtype=torch.uint8)
        pos = entry["offset"]
        if entry["encoding"] == "sparse":
            mask_bits = np.frombuffer(body[pos : pos + entry["mask_bytes"]], dtype=np.uint8)
            keep = torch.from_numpy(np.unpackbits(mask_bits, count=numel).astype(bool))
            pos += entry["mask_bytes"]
            values = np.frombuffer(body[pos : pos + entry["value_bytes"]], dtype=np.uint8)
            raw[keep] = torch.from_numpy(values.copy()).reshape(entry["nnz"], itemsize)
        elif entry["encoding"] == "dense":
            values = np.frombuffer(body[pos : pos + entry["value_bytes"]], dtype=np.uint8)
            raw = torch.from_numpy(values.copy()).reshape(numel, itemsize)
        else:
            raise ValueError(f"{entry['name']}: unknown encoding {entry['encoding']!r}")
        out[entry["name"]] = raw.reshape(-1).view(dtype).reshape(shape)
    return out


def dense_size_bytes(model_dir: str | os.PathLike) -> int:
    """Bytes of the ``*.safetensors`` weight files of a checkpoint folder (zeros stored densely)."""
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors file in {model_dir}")
    return sum(f.stat().st_size for f in files)


def sparse_size_bytes(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Bytes of :func:`encode_sparse` output: what unstructured zeros can save on disk."""
    return len(encode_sparse(state_dict))


def gzip_dense_size_bytes(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Bytes of the same container with every tensor dense: the gzip-only baseline."""
    return len(_encode(state_dict, allow_sparse=False))


def checkpoint_sizes(model_dir: str | os.PathLike) -> dict[str, int]:
    """``dense_bytes``, ``gzip_dense_bytes`` and ``sparse_bytes`` of a saved checkpoint.

    Reads the tensors exactly as stored (``safetensors``), so no freshly initialised head or
    device placement enters the numbers.
    """
    state: dict[str, torch.Tensor] = {}
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        state.update(load_file(file))
    return {
        "dense_bytes": dense_size_bytes(model_dir),
        "gzip_dense_bytes": gzip_dense_size_bytes(state),
        "sparse_bytes": sparse_size_bytes(state),
    }


# ----------------------------------------------------------------------------- kernels
class SparseLinear(nn.Module):
    """``nn.Linear`` whose weight is held in CSR format and multiplied with a sparse kernel.

    ``y = x W^T + b`` is computed as ``(W_csr @ x^T)^T``: torch's CSR x dense product
    (``torch.sparse.mm``) takes the sparse operand on the left, and on CPU it was measurably
    faster than ``F.linear(x, W_csr)`` in torch 2.13. Inference only: the CSR weight is a
    non-persistent buffer (moved by ``.to()``, not saved, not trained).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
            warnings.filterwarnings("ignore", message=r"Sparse CSR tensor support")
            csr = weight.detach().to_sparse_csr()
        self.register_buffer("weight_csr", csr, persistent=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), False)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> SparseLinear:
        """The sparse twin of ``linear`` (same weights, zeros dropped from storage)."""
        return cls(linear.weight, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        out = torch.sparse.mm(self.weight_csr, flat.t()).t()
        if self.bias is not None:
            out = out + self.bias
        return out.contiguous().reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        nnz = self.weight_csr.values().numel()
        density = nnz / (self.in_features * self.out_features)
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"density={density:.3f}"
        )


def sparsify_linears(model: nn.Module, min_sparsity: float = 0.0) -> tuple[nn.Module, list[str]]:
    """A copy of ``model`` whose encoder Linear layers run as :class:`SparseLinear`.

    Only the prunable Linears (see :func:`slimrank.params.prunable_linear_weights`) are
    candidates, and of those only matrices with at least ``min_sparsity`` zeros are swapped;
    the pooler and head stay dense. Returns ``(copy, names of the swapped modules)``.
    """
    sparse_model = copy.deepcopy(model).eval()
    modules = dict(sparse_model.named_modules())
    swapped: list[str] = []
    for weight_name, weight in prunable_linear_weights(sparse_model).items():
        sparsity = 1.0 - int(torch.count_nonzero(weight)) / weight.numel()
        if sparsity < min_sparsity:
            continue
        module_name = weight_name.removesuffix(".weight")
        parent_name, _, child = module_name.rpartition(".")
        parent = modules[parent_name] if parent_name else sparse_model
        setattr(parent, child, SparseLinear.from_linear(modules[module_name]))
        swapped.append(module_name)
    return sparse_model, swapped
