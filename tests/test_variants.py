"""The variant table and the initial models of each compression family (tiny models)."""

import pytest
import torch
import yaml
from snakemake.utils import update_config

from slimrank.models import load_cross_encoder
from slimrank.params import count_parameters, params_table, prunable_linear_weights
from slimrank.pruning import GradualMagnitudePruning
from slimrank.rerank import append_first_stage_tail
from slimrank.study import (
    Variant,
    check_variants,
    family_of,
    is_compressed,
    matched_sizes,
    parse_run,
    variant_table,
)
from slimrank.variant_models import HoldZeros, initial_model, training_callbacks

from .conftest import REPO

pytestmark = pytest.mark.usefixtures("tiny_single_thread")


def test_default_config_variant_table():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    names = [v.name for v in variant_table(config)]
    assert names == [
        "full",
        "drop-L2",
        "drop-L3",
        "oneshot-match-L2",
        "oneshot-match-L3",
        "structured-match-L3",
        "structured-w10",
        "drop-L3-kd",
        "oneshot-match-L3-kd",
    ]
    by_name = {v.name: v for v in variant_table(config)}
    structured = by_name["structured-match-L3"]
    assert (structured.family, structured.schedule, structured.match_layers) == (
        "structured",
        "oneshot",
        3,
    )
    assert structured.starts_from_full and "ffn_keep" not in structured.row()
    assert by_name["structured-w10"].ffn_keep == 0.1
    assert by_name["structured-w10"].row()["ffn_keep"] == 0.1


def test_extended_overlay_variant_table():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config/extended.yaml").read_text()))
    by_name = {v.name: v for v in variant_table(config)}
    assert by_name["oneshot-s95"].sparsity == 0.95
    assert by_name["gmp-match-L3"].match_layers == 3
    assert by_name["lottery-match-L3"].starts_from_full
    assert not by_name["gmp-match-L3"].starts_from_full
    assert by_name["structured-match-L4"].match_layers == 4


def test_paper_config_declares_the_seed_study():
    config = yaml.safe_load((REPO / "config/msmarco.yaml").read_text())
    names = {v.name for v in variant_table(config)}
    for layers in (3, 6, 9):
        assert f"drop-L{layers}" in names
        for schedule in ("oneshot", "gmp", "lottery"):
            assert f"{schedule}-match-L{layers}" in names
    assert {"oneshot-s80", "oneshot-s90", "oneshot-s95"} <= names
    # BERT-base's 3-layer count is out of structured pruning's reach (slimrank.structured).
    assert {"structured-match-L6", "structured-match-L9", "structured-match-L6-kd"} <= names
    assert "structured-match-L3" not in names


def test_matched_variant_needs_its_layer_drop_partner():
    config = {"compression": {"layers": [3], "matched": {"oneshot": [3, 6]}}}
    with pytest.raises(ValueError, match=r"compression.matched.oneshot: \[6\]"):
        check_variants(config)
    config = {"compression": {"layers": [3], "structured": {"matched": [3, 4]}}}
    with pytest.raises(ValueError, match=r"compression.structured.matched: \[4\]"):
        check_variants(config)


def test_recovery_overrides_name_training_keys_only():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    check_variants(config)  # the default's overrides: max_steps, lr, eval_every
    config["compression"]["structured"]["recovery"] = {"max_step": 120}
    with pytest.raises(ValueError, match=r"compression.structured.recovery: \['max_step'\]"):
        check_variants(config)
    del config["compression"]["structured"]["recovery"]
    config["compression"]["recovery"]["learning_rate"] = 1e-4
    with pytest.raises(ValueError, match=r"compression.recovery: \['learning_rate'\]"):
        check_variants(config)


def test_structured_names_round_trip_through_parse_run():
    config = {
        "compression": {"layers": [3], "structured": {"matched": [3], "ffn_keep": [0.1, 0.125]}},
        "distillation": {"students": ["structured-match-L3", "structured-w10"]},
    }
    check_variants(config)
    variants = {v.name: v for v in variant_table(config)}
    assert list(variants) == [
        "full",
        "drop-L3",
        "structured-match-L3",
        "structured-w10",
        "structured-w12.5",
        "structured-match-L3-kd",
        "structured-w10-kd",
    ]
    for name, v in variants.items():
        info = parse_run(name)
        if name in ("full", "drop-L3"):
            continue
        assert (info.kind, info.schedule, info.method) == ("structured", "oneshot", "structured")
        assert family_of(name) == "structured" and is_compressed(name)
        assert info.matched_layers == v.match_layers
        assert info.ffn_pct == (None if v.ffn_keep is None else 100 * v.ffn_keep)
        assert info.distill == v.distill and v.partner == name.removesuffix("-kd")
    assert parse_run("structured-w12.5-int8").int8
    assert variants["structured-w12.5"].ffn_keep == 0.125
    (size,) = matched_sizes(variants)
    assert size.structured == "structured-match-L3" and size.pruned == {}
    duplicated = {"compression": {"structured": {"ffn_keep": [0.1, 0.1000001]}}}
    with pytest.raises(ValueError, match="defined twice"):
        variant_table(duplicated)


def variant(name, **fields):
    base = dict(family="prune", schedule="oneshot", layers=None, match_layers=None, sparsity=None)
    base.update(fields)
    return Variant(name=name, seed=3, **base)


def test_drop_variant_keeps_the_bottom_layers(tiny_model_dir, tmp_path):
    model, tokenizer, info = initial_model(
        variant("drop-L1", family="drop", schedule="finetune", layers=1), str(tiny_model_dir), None
    )
    assert model.config.num_hidden_layers == 1 and info["kept_layers"] == [0]
    original, _ = load_cross_encoder(tiny_model_dir)
    kept = model.bert.encoder.layer[0].attention.self.query.weight
    assert torch.equal(kept, original.bert.encoder.layer[0].attention.self.query.weight)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    reloaded, _ = load_cross_encoder(tmp_path / "m")
    assert len(reloaded.bert.encoder.layer) == 1


def test_oneshot_matched_variant_has_the_drop_models_parameter_count(tiny_model_dir):
    model, _, info = initial_model(
        variant("oneshot-match-L1", match_layers=1), str(tiny_model_dir), str(tiny_model_dir)
    )
    dropped, _, _ = initial_model(
        variant("drop-L1", family="drop", schedule="finetune", layers=1), str(tiny_model_dir), None
    )
    counts = count_parameters(model)
    assert info["matched_total"] == count_parameters(dropped)["total"]
    # Structural non-zeros: pruned weights are the only zeros that matter here.
    pruned = counts["prunable"] - counts["prunable_nonzero"]
    assert counts["total"] - pruned == info["matched_total"]
    assert counts["encoder_sparsity"] == pytest.approx(info["target_sparsity"], abs=1e-4)


def test_lottery_variant_rewinds_survivors_to_pretrained(tiny_model_dir):
    model, _, info = initial_model(
        variant("lottery-s50", schedule="lottery", sparsity=0.5),
        str(tiny_model_dir),
        str(tiny_model_dir),
    )
    assert info["target_sparsity"] == 0.5
    pretrained, _ = load_cross_encoder(tiny_model_dir)
    reference = prunable_linear_weights(pretrained)
    for name, weight in prunable_linear_weights(model).items():
        kept = weight != 0
        assert torch.equal(weight[kept], reference[name][kept])
    assert count_parameters(model)["encoder_sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_gmp_variant_starts_dense_and_prunes_during_training(tiny_model_dir):
    model, _, info = initial_model(
        variant("gmp-s50", schedule="gmp", sparsity=0.5), str(tiny_model_dir), None
    )
    assert count_parameters(model)["encoder_sparsity"] < 0.01
    callbacks, select_after = training_callbacks(
        Variant("gmp-s50", "prune", "gmp", None, None, 0.5, 3),
        info,
        total_steps=100,
        gmp={"start": 0.1, "end": 0.6, "frequency": 10},
    )
    (gmp,) = callbacks
    assert isinstance(gmp, GradualMagnitudePruning)
    assert (gmp.start_step, gmp.end_step, select_after) == (10, 60, 60)
    assert gmp.final_sparsity == 0.5


def test_pruned_variants_hold_the_zeros_of_their_initial_model(tiny_model_dir):
    model, _, info = initial_model(
        variant("oneshot-s50", sparsity=0.5), str(tiny_model_dir), str(tiny_model_dir)
    )
    (hold,), select_after = training_callbacks(
        Variant("oneshot-s50", "prune", "oneshot", None, None, 0.5, 3), info, 10, {}
    )
    assert isinstance(hold, HoldZeros) and select_after == 0
    hold.on_train_begin(model)
    with torch.no_grad():
        for weight in prunable_linear_weights(model).values():
            weight.add_(1.0)  # an optimizer step that moves every weight
    hold.on_step_end(model, 1, 10)
    assert count_parameters(model)["encoder_sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_params_table_reports_match_error():
    records = [
        {"name": "drop-L3", "family": "drop", "total": 1000, "nonzero": 1000},
        {"name": "oneshot-match-L3", "family": "prune", "total": 2000, "nonzero": 1004,
         "matched_total": 1000},
    ]  # fmt: skip
    table = params_table(records).set_index("name")
    assert table.loc["oneshot-match-L3", "match_error"] == pytest.approx(0.004)
    assert table.loc["drop-L3", "match_error"] is None


def test_params_table_measures_a_structured_model_by_its_total():
    # A dense structured model's incidental zeros are parameters: its total is its size.
    records = [
        {"name": "drop-L3", "family": "drop", "total": 1000, "nonzero": 1000},
        {"name": "structured-match-L3", "family": "structured", "total": 1003, "nonzero": 990,
         "matched_total": 1000, "intermediate_size": 382},
    ]  # fmt: skip
    table = params_table(records).set_index("name")
    assert table.loc["structured-match-L3", "match_error"] == pytest.approx(0.003)
    assert table.loc["structured-match-L3", "intermediate_size"] == 382


def test_reranked_run_keeps_the_first_stage_tail():
    first = {"q": {"a": 9.0, "b": 8.0, "c": 7.0, "d": 6.0}}
    reranked = {"q": {"b": 0.9, "a": 0.1}}
    run = append_first_stage_tail(reranked, first)
    order = sorted(run["q"], key=run["q"].get, reverse=True)
    assert order == ["b", "a", "c", "d"]
    assert run["q"]["b"] == 0.9 and run["q"]["a"] == 0.1


# ----------------------------------------------------------------------------- precision rows
@pytest.mark.parametrize("model", ["full", "drop-L2", "oneshot-match-L3", "gmp-s90", "drop-L3-kd"])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_precision_run_names_round_trip(model, precision):
    from slimrank.study import parse_run, peer_name, precision_name, split_precision

    run = precision_name(model, precision)
    assert split_precision(run) == (model, precision)
    info, plain = parse_run(run), parse_run(model)
    assert (info.base, info.precision, info.int8) == (model, precision, precision == "int8")
    assert info.is_precision_row and not plain.is_precision_row and plain.precision is None
    # Everything else a name says is the plain model's.
    assert (info.kind, info.schedule, info.matched_layers, info.sweep_pct, info.distill) == (
        plain.kind, plain.schedule, plain.matched_layers, plain.sweep_pct, plain.distill
    )  # fmt: skip
    peer = parse_run(peer_name(model))
    assert (peer.base, peer.peer, peer.precision, peer.kind) == (model, True, None, plain.kind)


def test_precision_rows_of_the_config_and_their_roles():
    from slimrank.study import matched_sizes, model_seeds, precision_runs, sweep_runs

    config = {
        "seeds": [13, 14],
        "seeded_variants": ["full"],
        "efficiency": {"fp32": ["full"], "bf16": ["drop-L2"], "int8": ["full", "drop-L2"]},
    }
    rows = precision_runs(config)
    assert rows == ["full-fp32", "drop-L2-bf16", "full-int8", "drop-L2-int8"]
    assert all(model_seeds(config, row) == [13] for row in rows)  # seeds[0]'s models only
    runs = ["full", "drop-L2", "oneshot-match-L2", "oneshot-s90", *rows, "oneshot-s90-bf16"]
    sizes = matched_sizes(runs)
    assert [(s.drop, s.pruned) for s in sizes] == [("drop-L2", {"oneshot": "oneshot-match-L2"})]
    assert sweep_runs(runs) == {"oneshot": ["oneshot-s90"]}
    with pytest.raises(ValueError, match="precision"):
        from slimrank.study import precision_name

        precision_name("full", "fp16")


def test_recovery_overrides_per_family():
    from slimrank.study import recovery_overrides

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    by_name = {v.name: v for v in variant_table(config)}
    recovery = config["compression"]["recovery"]
    # Trained from the schedule's start: no overrides; recovered models: compression.recovery.
    assert recovery_overrides(config, by_name["full"]) == {}
    assert recovery_overrides(config, by_name["drop-L3"]) == {}
    assert recovery_overrides(config, by_name["oneshot-match-L3"]) == recovery
    assert recovery_overrides(config, by_name["oneshot-match-L3-kd"]) == recovery
    # compression.structured.recovery changes the structured models' recovery only.
    config["compression"]["structured"]["recovery"] = {"max_steps": 96, "lr": 1e-4}
    for name in ("structured-match-L3", "structured-w10"):
        assert recovery_overrides(config, by_name[name]) == {
            **recovery,
            "max_steps": 96,
            "lr": 1e-4,
        }
    assert recovery_overrides(config, by_name["oneshot-match-L3"]) == recovery
    # Without it, structured models recover as one-shot models do.
    del config["compression"]["structured"]["recovery"]
    assert recovery_overrides(config, by_name["structured-w10"]) == recovery
