"""The training loop: it learns, saves a loadable model, and resumes to bitwise-equal weights."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from slimrank.distill import drawn_pairs, score_teacher
from slimrank.losses import Distillation, group_loss
from slimrank.models import load_cross_encoder
from slimrank.pairs import sample_training_groups
from slimrank.rerank import Reranker
from slimrank.training import (
    TrainSettings,
    _make_optimizer,
    _make_scheduler,
    train_cross_encoder,
)
from slimrank.training_state import CHECKPOINT_FIELDS, CHECKPOINT_NAME, GroupStream, group_order

pytestmark = pytest.mark.usefixtures("tiny_single_thread")


class Interrupt(Exception):
    """Raised by a callback to simulate a job killed mid-training."""


class StopAt:
    """Callback that kills training right after optimizer step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, model, step, total_steps):
        if step == self.step:
            raise Interrupt(step)


def _settings(**overrides) -> TrainSettings:
    values = {
        "loss": "lce",
        "lr": 1e-3,
        "warmup_ratio": 0.2,
        "batch_size": 2,
        "grad_accum_steps": 2,
        "max_steps": 6,
        "max_length": 48,
        "precision": "fp32",
        "seed": 3,
        "eval_every": 3,
        "checkpoint_every": 2,
        "eval_depth": 8,
        "eval_batch_size": 16,
        "log_every": 1,
        "device": "cpu",
    }
    values.update(overrides)
    return TrainSettings(**values)


def _groups(corpus):
    return sample_training_groups(
        corpus["qrels"], corpus["run"], negatives_per_positive=3, negative_depth=8, seed=0,
        log=lambda _: None,
    )  # fmt: skip


def _train(model_dir, corpus, settings, root, callbacks=(), restart_stale=True, distill=None):
    groups = _groups(corpus)
    return train_cross_encoder(
        model_dir,
        groups,
        corpus["queries"],
        corpus["collection"],
        corpus["queries"],
        corpus["qrels"],
        corpus["run"],
        settings,
        out_dir=root / "model",
        work_dir=root / "work",
        callbacks=callbacks,
        log=lambda _: None,
        restart_stale=restart_stale,
        distill=distill,
    )


def _distillation(model_dir, corpus, settings, **options) -> Distillation:
    """The tiny model as its own teacher, scoring the pairs a run with ``settings`` draws."""
    teacher = Reranker.load(model_dir, max_length=48, device="cpu", precision="fp32")
    pairs = drawn_pairs(_groups(corpus), [settings])
    scores = score_teacher(teacher, pairs, corpus["queries"], corpus["collection"], 16)
    return Distillation(scores, **options)


def _weights(model_dir) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def test_group_stream_resumes_at_any_position():
    full = GroupStream(10, seed=1).take(35)
    for epoch in range(3):
        assert full[epoch * 10 : epoch * 10 + 10] == group_order(10, 1, epoch)
        assert sorted(group_order(10, 1, epoch)) == list(range(10))
    assert group_order(10, 1, 0) != group_order(10, 1, 1) != group_order(10, 2, 1)
    for start in (0, 7, 10, 23):
        assert GroupStream(10, seed=1, position=start).take(35 - start) == full[start:]
    chunks = GroupStream(10, seed=1)
    assert [i for _ in range(7) for i in chunks.take(5)] == full


def test_settings_are_validated():
    with pytest.raises(ValueError, match="loss"):
        TrainSettings(loss="mse")
    with pytest.raises(ValueError, match="select_metric"):
        TrainSettings(select_metric="map")
    with pytest.raises(ValueError, match="batch_size"):
        TrainSettings(batch_size=0)
    assert TrainSettings(batch_size=4, grad_accum_steps=2, epochs=2).total_steps(9) == 3
    assert TrainSettings(max_steps=5, epochs=100).total_steps(9) == 5


def test_head_learns_at_head_lr_and_decay_skips_1d_parameters(tiny_model_dir):
    model, _ = load_cross_encoder(tiny_model_dir)
    optimizer = _make_optimizer(model, TrainSettings(lr=1e-5, head_lr=1e-3, weight_decay=0.1))
    by_param = {
        id(p): (group["lr"], group["weight_decay"])
        for group in optimizer.param_groups
        for p in group["params"]
    }
    named = dict(model.named_parameters())
    assert len(by_param) == len(named)
    assert by_param[id(named["classifier.weight"])] == (1e-3, 0.1)
    assert by_param[id(named["classifier.bias"])] == (1e-3, 0.0)
    assert by_param[id(named["bert.pooler.dense.weight"])] == (1e-5, 0.1)
    assert by_param[id(named["bert.embeddings.LayerNorm.weight"])] == (1e-5, 0.0)
    plain = _make_optimizer(model, TrainSettings(lr=1e-5))
    assert {group["lr"] for group in plain.param_groups} == {1e-5}
    with pytest.raises(ValueError, match="head_lr"):
        TrainSettings(head_lr=0)


@pytest.mark.parametrize("loss", ["bce", "lce"])
def test_length_sorted_chunks_give_the_same_loss_and_gradients(tiny_model_dir, tiny_corpus, loss):
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    model.eval()  # no dropout: one pass and chunks must then compute the same function
    groups = sample_training_groups(
        tiny_corpus["qrels"], tiny_corpus["run"], negatives_per_positive=3, negative_depth=8, seed=1
    )[:3]
    reranker = Reranker(model, tokenizer, "cpu", "fp32", max_length=48)
    results = []
    for forward_pairs in (None, 3, 5):
        value, n_pairs = group_loss(
            reranker,
            groups,
            tiny_corpus["queries"],
            tiny_corpus["collection"],
            loss=loss,
            forward_pairs=forward_pairs,
        )
        model.zero_grad()
        value.backward()
        grad = model.classifier.weight.grad.clone()
        results.append((value.item(), n_pairs, grad))
    whole = results[0]
    assert whole[1] == 12  # 3 groups of a positive and 3 negatives
    for chunked in results[1:]:
        assert chunked[0] == pytest.approx(whole[0], abs=1e-5)
        assert chunked[1] == whole[1]
        torch.testing.assert_close(chunked[2], whole[2], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="forward_pairs"):
        TrainSettings(forward_pairs=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        group_loss(reranker, groups, tiny_corpus["queries"], tiny_corpus["collection"], loss="mse")


def test_schedule_warms_up_and_decays_without_zero_steps():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = _make_scheduler(optimizer, total_steps=10, warmup_ratio=0.2)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])


@pytest.mark.parametrize(("loss", "precision"), [("bce", "fp32"), ("lce", "fp32"), ("lce", "bf16")])
def test_short_training_writes_a_loadable_model(
    tiny_model_dir, tiny_corpus, tmp_path, loss, precision
):
    summary = _train(
        tiny_model_dir, tiny_corpus, _settings(loss=loss, precision=precision), tmp_path
    )
    assert summary["precision"] == precision == summary["settings"]["precision"]
    assert summary["steps"] == 6 and summary["resumed_from"] is None
    assert [step for step, _ in summary["history"]] == [3, 6]
    assert summary["best_step"] in (3, 6)
    assert summary["best_score"] == max(score for _, score in summary["history"])
    assert summary["pairs_trained"] == 6 * 2 * 2 * 4 and summary["pairs_per_second"] > 0
    assert (tmp_path / "work" / CHECKPOINT_NAME).is_file()
    assert (tmp_path / "work" / "best" / "model.safetensors").is_file()

    model, _ = load_cross_encoder(tmp_path / "model")
    assert model.config.num_labels == 1 and model.config.num_hidden_layers == 2
    trained, initial = _weights(tmp_path / "model"), _weights(tiny_model_dir)
    assert trained.keys() == initial.keys()
    assert not torch.equal(trained["classifier.weight"], initial["classifier.weight"])
    assert torch.equal(trained["classifier.weight"], _weights(tmp_path / "work" / "best")[
        "classifier.weight"])  # fmt: skip


@pytest.mark.parametrize("kd", [None, "margin_mse", "listwise_kl"])
def test_interrupted_training_resumes_to_identical_weights(
    tiny_model_dir, tiny_corpus, tmp_path, kd
):
    # select_after_step=6: the saved model is the final one, so every step counts.
    settings = _settings(select_after_step=6)
    distill = None
    if kd is not None:  # a distilled student, its label loss mixed in
        distill = _distillation(
            tiny_model_dir, tiny_corpus, settings, loss=kd, temperature=2.0, label_weight=0.5
        )
    whole = _train(tiny_model_dir, tiny_corpus, settings, tmp_path / "whole", distill=distill)

    with pytest.raises(Interrupt):  # killed at step 5; the last checkpoint is step 4
        _train(
            tiny_model_dir, tiny_corpus, settings, tmp_path / "cut", callbacks=[StopAt(5)],
            distill=distill,
        )  # fmt: skip
    assert not (tmp_path / "cut" / "model").exists()
    checkpoint = torch.load(tmp_path / "cut" / "work" / CHECKPOINT_NAME, weights_only=True)
    assert checkpoint["step"] == 4
    # One list of fields, written (and read back) in its order.
    assert list(checkpoint) == ["format", "resume_key", *CHECKPOINT_FIELDS]
    assert checkpoint["position"] == 4 * 2 * 2  # 4 steps of 2 micro-batches of 2 groups

    resumed = _train(tiny_model_dir, tiny_corpus, settings, tmp_path / "cut", distill=distill)
    assert resumed["resumed_from"] == 4
    for key in ("history", "loss_history", "best_step", "best_score", "steps"):
        assert resumed[key] == whole[key], key
    expected, got = _weights(tmp_path / "whole" / "model"), _weights(tmp_path / "cut" / "model")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    # The comparison is not trivial: training moved the weights away from step 4's.
    assert not torch.equal(checkpoint["model"]["classifier.weight"], got["classifier.weight"])


def test_resume_refuses_a_checkpoint_from_other_settings(tiny_model_dir, tiny_corpus, tmp_path):
    _train(tiny_model_dir, tiny_corpus, _settings(max_steps=2), tmp_path)
    with pytest.raises(ValueError, match="delete"):
        _train(
            tiny_model_dir, tiny_corpus, _settings(max_steps=2, lr=5e-4), tmp_path,
            restart_stale=False,
        )  # fmt: skip
    # By default a stale checkpoint is discarded and training starts over.
    fresh = _train(tiny_model_dir, tiny_corpus, _settings(max_steps=2, lr=5e-4), tmp_path)
    assert fresh["resumed_from"] is None and fresh["steps"] == 2
    # Settings that do not change the weights may differ.
    again = _train(
        tiny_model_dir, tiny_corpus, _settings(max_steps=2, lr=5e-4, log_every=5), tmp_path
    )
    assert again["resumed_from"] == 2


def test_changed_distillation_settings_restart_training(tiny_model_dir, tiny_corpus, tmp_path):
    settings = _settings(max_steps=2)
    margin = _distillation(tiny_model_dir, tiny_corpus, settings, loss="margin_mse")
    first = _train(tiny_model_dir, tiny_corpus, settings, tmp_path, distill=margin)
    assert first["distillation"]["loss"] == "margin_mse"
    # The same loss resumes (here: finds the run finished); another loss, or none, starts over.
    same = _train(tiny_model_dir, tiny_corpus, settings, tmp_path, distill=margin)
    assert same["resumed_from"] == 2
    kl = _distillation(tiny_model_dir, tiny_corpus, settings, loss="listwise_kl")
    for distill in (kl, None):
        with pytest.raises(ValueError, match="delete"):
            _train(
                tiny_model_dir, tiny_corpus, settings, tmp_path, restart_stale=False,
                distill=distill,
            )  # fmt: skip


def test_a_student_drawing_a_pair_the_teacher_did_not_score_fails(
    tiny_model_dir, tiny_corpus, tmp_path
):
    # Teacher scores for 2 steps, a student of 6: it runs out of scored groups.
    scored = _distillation(tiny_model_dir, tiny_corpus, _settings(max_steps=1))
    with pytest.raises(KeyError, match="rerun the teacher_scores rule"):
        _train(tiny_model_dir, tiny_corpus, _settings(), tmp_path, distill=scored)


def test_callbacks_see_every_step_and_can_hold_a_mask(tiny_model_dir, tiny_corpus, tmp_path):
    name = "bert.encoder.layer.0.intermediate.dense.weight"

    class HoldMask:
        """What a pruning callback does: zero some weights and keep them at zero."""

        def __init__(self) -> None:
            self.calls: list[tuple] = []

        def on_train_begin(self, model):
            self.calls.append(("begin",))
            weight = model.get_parameter(name)
            weight[:10] = 0.0
            self.mask = weight != 0

        def on_step_end(self, model, step, total_steps):
            self.calls.append((step, total_steps))
            model.get_parameter(name).mul_(self.mask)

    callback = HoldMask()
    _train(tiny_model_dir, tiny_corpus, _settings(max_steps=4), tmp_path, callbacks=[callback])
    assert callback.calls == [("begin",), (1, 4), (2, 4), (3, 4), (4, 4)]
    weight = _weights(tmp_path / "model")[name]
    assert torch.count_nonzero(weight[:10]) == 0 and torch.count_nonzero(weight[10:]) > 0


def test_training_reduces_the_loss(tiny_model_dir, tiny_corpus, tmp_path):
    settings = _settings(
        max_steps=30, lr=5e-3, warmup_ratio=0.1, batch_size=4, grad_accum_steps=1,
        eval_every=0, checkpoint_every=0, log_every=10,
    )  # fmt: skip
    summary = _train(tiny_model_dir, tiny_corpus, settings, tmp_path)
    losses = [loss for _, loss in summary["loss_history"]]
    assert len(losses) == 3 and losses[-1] < 0.75 * losses[0], losses


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_is_resolved_and_recorded(
    tiny_model_dir, tiny_corpus, tmp_path, monkeypatch, native, expected
):
    """``auto`` trains in what the hardware runs natively and the summary says which."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    summary = _train(
        tiny_model_dir, tiny_corpus, _settings(precision="auto", max_steps=1), tmp_path
    )
    assert summary["precision"] == expected == summary["settings"]["precision"]


def test_forced_fp32_is_the_plain_float32_loss(tiny_model_dir, tiny_corpus, monkeypatch):
    """precision fp32 is today's arithmetic (no autocast), even where bf16 is native; bf16
    autocast is a different computation."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    groups = sample_training_groups(
        tiny_corpus["qrels"], tiny_corpus["run"], negatives_per_positive=3, negative_depth=8,
        seed=0, log=lambda _: None,
    )  # fmt: skip
    queries, collection = tiny_corpus["queries"], tiny_corpus["collection"]
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    losses = {}
    for precision in ("fp32", "bf16"):
        reranker = Reranker(model, tokenizer, "cpu", precision, max_length=48)
        losses[precision], _ = group_loss(reranker, groups[:2], queries, collection, loss="lce")
    with torch.autocast("cpu", enabled=False):
        reranker = Reranker(model, tokenizer, "cpu", "fp32", max_length=48)
        plain, _ = group_loss(reranker, groups[:2], queries, collection, loss="lce")
    assert losses["fp32"].item() == plain.item()
    assert losses["bf16"].item() != plain.item()
