"""Knowledge distillation: the losses against hand-computed values, the teacher's score file,
the groups the teacher scores and the distilled students of the variant table."""

from __future__ import annotations

import math

import pytest
import torch

from slimrank.distill import drawn_pairs, read_teacher_scores, write_teacher_scores
from slimrank.losses import kd_loss
from slimrank.pairs import TrainingGroup
from slimrank.study import (
    DRAW_FIELDS,
    distilled_partners,
    distinct_draws,
    kd_name,
    matched_sizes,
    parse_run,
    sweep_runs,
    variant_table,
)
from slimrank.training import TrainSettings
from slimrank.training_state import GroupStream


def test_margin_mse_by_hand():
    # Group 1: student margins 2-1=1, 2-0=2; teacher margins 3-1=2, 3-2=1: errors -1, +1 -> 1.
    # Group 2: student margin 1-(-1)=2, teacher margin 0: error 2 -> 4. Mean over groups 2.5.
    student = torch.tensor([2.0, 1.0, 0.0, 1.0, -1.0])
    teacher = torch.tensor([3.0, 1.0, 2.0, 0.0, 0.0])
    assert kd_loss(student, teacher, [3, 2], "margin_mse").item() == pytest.approx(2.5)
    # Only margins count: shifting a group's teacher scores changes nothing.
    shifted = teacher + torch.tensor([5.0, 5.0, 5.0, -3.0, -3.0])
    assert kd_loss(student, shifted, [3, 2], "margin_mse").item() == pytest.approx(2.5)


def test_listwise_kl_by_hand():
    # Teacher uniform (1/2, 1/2); student logits (ln 3, 0): softmax (3/4, 1/4).
    # KL(p || q) = 1/2 ln((1/2)/(3/4)) + 1/2 ln((1/2)/(1/4)) = 1/2 ln(4/3).
    student, teacher = torch.tensor([math.log(3.0), 0.0]), torch.tensor([0.0, 0.0])
    expected = 0.5 * math.log(4 / 3)
    assert kd_loss(student, teacher, [2], "listwise_kl").item() == pytest.approx(expected)
    # T = 2: student softmax of (ln 3 / 2, 0) is (r / (r + 1), 1 / (r + 1)) with r = sqrt 3;
    # the loss is T^2 = 4 times the KL.
    r = math.sqrt(3.0)
    kl = 0.5 * math.log(0.5 * (r + 1) / r) + 0.5 * math.log(0.5 * (r + 1))
    got = kd_loss(student, teacher, [2], "listwise_kl", temperature=2.0).item()
    assert got == pytest.approx(4 * kl)
    # Equal distributions: zero.
    assert kd_loss(teacher, teacher, [2], "listwise_kl").item() == pytest.approx(0.0)


def test_unknown_distillation_loss_is_rejected():
    with pytest.raises(ValueError, match="distillation loss must be one of"):
        kd_loss(torch.zeros(2), torch.zeros(2), [2], "mse")


def test_teacher_scores_read_back_exactly(tmp_path):
    values = torch.randn(50, generator=torch.Generator().manual_seed(0)) * 7
    scores = {(f"q{i}", f"d{i}"): float(v) for i, v in enumerate(values.tolist())}
    write_teacher_scores(scores, tmp_path / "teacher.tsv")
    back = read_teacher_scores(tmp_path / "teacher.tsv")
    assert back == scores
    assert torch.equal(torch.tensor(list(back.values())), values)


def _groups(n: int) -> list[TrainingGroup]:
    return [TrainingGroup(f"q{i}", f"p{i}", (f"n{i}a", f"n{i}b")) for i in range(n)]


def test_the_teacher_scores_what_the_training_loop_draws():
    settings = TrainSettings(batch_size=2, grad_accum_steps=3, max_steps=2, seed=5)
    # The loop: one GroupStream, batch_size groups per micro-batch, accumulated per step.
    stream = GroupStream(10, 5)
    loop = [i for _ in range(2 * 3) for i in stream.take(2)]
    assert settings.groups_drawn(10) == loop
    groups = _groups(10)
    pairs = drawn_pairs(groups, [settings])
    assert len(pairs) == 3 * len(set(loop))  # 12 draws of 10 groups: every group, 3 pairs each
    # Students with fewer steps add nothing; pairs of undrawn groups are not scored.
    short = TrainSettings(batch_size=2, max_steps=1, seed=5)
    assert drawn_pairs(groups, [short]) == [
        (groups[i].qid, d) for i in sorted(GroupStream(10, 5).take(2))
        for d in (groups[i].positive, *groups[i].negatives)
    ]  # fmt: skip


def test_only_the_draw_fields_decide_what_the_teacher_scores():
    base = TrainSettings(batch_size=2, max_steps=3, seed=5)
    # Every other setting changed at once: the same groups are drawn.
    learns_otherwise = TrainSettings(
        loss="bce", lr=1e-3, head_lr=1e-2, warmup_ratio=0.5, weight_decay=0.0,
        batch_size=2, max_steps=3, max_length=64, forward_pairs=4, max_grad_norm=None,
        precision="fp32", seed=5, eval_every=1, checkpoint_every=1, select_metric="ndcg@10",
        select_after_step=1, eval_depth=5, eval_batch_size=2, log_every=1, device="cpu",
    )  # fmt: skip
    # It does differ in every field but the draw fields (a new TrainSettings field fails here).
    differs = {f for f in vars(base) if getattr(base, f) != getattr(learns_otherwise, f)}
    assert differs == set(vars(base)) - set(DRAW_FIELDS)
    assert learns_otherwise.groups_drawn(40) == base.groups_drawn(40)
    # Each draw field changes them (epochs counts where max_steps is unset).
    for change in ({"batch_size": 3}, {"grad_accum_steps": 2}, {"max_steps": 4}, {"seed": 6}):
        assert TrainSettings(**{**vars(base), **change}).groups_drawn(40) != base.groups_drawn(40)
    by_epochs = TrainSettings(batch_size=2, epochs=0.25, seed=5)
    assert TrainSettings(**{**vars(by_epochs), "epochs": 0.5}).groups_drawn(40) != (
        by_epochs.groups_drawn(40)
    )
    assert set(DRAW_FIELDS) < set(vars(base))


def test_students_that_draw_alike_share_one_teacher_draw():
    drop = {"lr": 1.5e-4, "loss": "lce", "batch_size": 8, "grad_accum_steps": 1,
            "max_steps": 120, "epochs": 1.0, "seed": 13}  # fmt: skip
    slower = {**drop, "lr": 5e-5}  # another learning rate, the same draw
    oneshot = {**drop, "max_steps": 24}
    draws = distinct_draws([drop, oneshot, slower])
    assert draws == distinct_draws([oneshot, drop])  # the same job parameter, in any order
    assert sorted(d["max_steps"] for d in draws) == [24, 120]
    assert all(set(d) == set(DRAW_FIELDS) for d in draws)
    # What the teacher job builds from them draws what the students draw.
    groups = _groups(40)
    assert drawn_pairs(groups, [TrainSettings(**d) for d in draws]) == drawn_pairs(
        groups, [TrainSettings(**{k: drop[k] for k in DRAW_FIELDS}),
                 TrainSettings(**{k: oneshot[k] for k in DRAW_FIELDS})],
    )  # fmt: skip


STUDY = {
    "seed": 1,
    "compression": {
        "layers": [2, 3],
        "matched": {"oneshot": [3]},
        "sweep": {"schedules": ["oneshot"], "sparsities": [0.9]},
    },
}


def test_students_are_copies_of_their_partners():
    assert [v.name for v in variant_table(STUDY)] == [
        "full", "drop-L2", "drop-L3", "oneshot-match-L3", "oneshot-s90",
    ]  # fmt: skip
    config = {**STUDY, "distillation": {"students": ["drop-L3", "oneshot-match-L3"]}}
    variants = {v.name: v for v in variant_table(config)}
    assert list(variants)[-2:] == ["drop-L3-kd", "oneshot-match-L3-kd"]
    student = variants["oneshot-match-L3-kd"]
    assert student.distill and student.partner == "oneshot-match-L3"
    assert (student.family, student.schedule, student.match_layers) == ("prune", "oneshot", 3)
    # An undistilled variant's row (a job parameter) is what it was before distillation.
    assert "distill" not in variants["drop-L3"].row()
    assert variants["drop-L3-kd"].row()["distill"] is True
    with pytest.raises(ValueError, match="not a compressed variant"):
        variant_table({**STUDY, "distillation": {"students": ["drop-L9"]}})


def test_distilled_runs_parse_and_stay_out_of_the_matched_comparison():
    info = parse_run(kd_name("oneshot-match-L3"))
    assert (info.kind, info.schedule, info.matched_layers, info.distill) == (
        "prune", "oneshot", 3, True,
    )  # fmt: skip
    assert parse_run("drop-L3-kd").method == "drop" and not parse_run("drop-L3").distill
    runs = ["full", "drop-L3", "drop-L3-kd", "oneshot-match-L3", "oneshot-match-L3-kd"]
    runs += ["oneshot-s90", "oneshot-s90-kd"]
    [size] = matched_sizes(runs)
    assert (size.drop, size.pruned) == ("drop-L3", {"oneshot": "oneshot-match-L3"})
    assert sweep_runs(runs) == {"oneshot": ["oneshot-s90"]}
    assert distilled_partners(runs) == {
        "drop-L3": "drop-L3-kd",
        "oneshot-match-L3": "oneshot-match-L3-kd",
        "oneshot-s90": "oneshot-s90-kd",
    }
