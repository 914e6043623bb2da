"""Integration: the whole workflow on a tiny config (a few real queries), in a temporary folder."""

import copy
import json

import pandas as pd
import pytest

from slimrank.evaluation import evaluate_runs
from slimrank.trec import read_qrels, read_run, read_tsv_pairs

from .conftest import run_snakemake, tiny_workflow_config

pytestmark = pytest.mark.integration


def planned_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a Snakemake dry run."""
    jobs, inside = {}, False
    for line in output.splitlines():
        fields = line.split()
        if fields[:2] == ["job", "count"]:
            inside = True
        elif inside and len(fields) == 2 and fields[1].isdigit() and fields[0] != "total":
            jobs[fields[0]] = int(fields[1])
        elif inside and fields[:1] == ["total"]:
            break
    return jobs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    done = run_snakemake(workdir, tiny_workflow_config(), "all")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def test_splits_are_sampled_disjoint_and_logged(tiny_run):
    sizes = {"dl19": 5, "valid": 4, "train": 12}
    seen = set()
    for split, size in sizes.items():
        queries = read_tsv_pairs(tiny_run / f"results/data/{split}/queries.tsv")
        qrels = read_qrels(tiny_run / f"results/data/{split}/qrels.txt")
        assert len(queries) == size and set(qrels) == set(queries)
        assert not seen & set(queries)
        seen |= set(queries)
        stats = json.loads((tiny_run / f"results/data/{split}/stats.json").read_text())
        assert stats["queries"] == size
    train_stats = json.loads((tiny_run / "results/data/train/stats.json").read_text())
    assert train_stats["without_positive_in_collection"] > 0


def test_bm25_runs_for_every_split(tiny_run):
    collection = set(read_tsv_pairs(tiny_run / "results/data/collection.tsv"))
    assert len(collection) == 51128
    for split in ("dl19", "valid", "train"):
        run = read_run(tiny_run / f"results/runs/{split}/bm25.trec")
        queries = read_tsv_pairs(tiny_run / f"results/data/{split}/queries.tsv")
        assert set(run) == set(queries)
        assert all(0 < len(docs) <= 50 for docs in run.values())
        assert all(doc in collection for docs in run.values() for doc in docs)


def test_metrics_table_comes_from_the_runs(tiny_run):
    table = pd.read_csv(tiny_run / "results/metrics/metrics.tsv", sep="\t", dtype=str)
    assert set(table.split) == {"dl19", "valid"}
    assert {"bm25", "bm25-fullcollection"} <= set(table[table.split == "dl19"].run)
    assert set(table[table.split == "valid"].run) == {"bm25"}  # models rerank test splits only
    assert set(table.metric) == {"ndcg@10", "mrr@10", "recall@100", "recall@1000", "map@1000"}
    qrels = read_qrels(tiny_run / "results/data/dl19/qrels.txt")
    run = read_run(tiny_run / "results/runs/dl19/bm25-fullcollection.trec")
    expected = evaluate_runs(qrels, {"x": run}, ["ndcg@10"], 2).value.iloc[0]
    row = table[(table.split == "dl19") & (table.run == "bm25-fullcollection")]
    assert float(row[row.metric == "ndcg@10"].value.iloc[0]) == pytest.approx(expected, abs=1e-6)
    significance = pd.read_csv(tiny_run / "results/metrics/significance.tsv", sep="\t")
    assert set(significance.baseline) == {"bm25", "full"}
    # A t-test of identical per-query scores (possible on 5 queries) has no p-value: NaN.
    tested = significance.p_value.dropna()
    assert len(tested) > 0 and tested.between(0, 1).all()


def test_second_run_has_nothing_to_do(tiny_run):
    again = run_snakemake(tiny_run, tiny_workflow_config(), "all", "--dry-run")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr


def planned_threads(output: str) -> dict[str, set[int]]:
    """Rule -> the threads its jobs claim, from a Snakemake dry run (1 when not printed)."""
    threads, rule, claimed = {}, None, 1
    for line in output.splitlines() + ["rule end:"]:
        fields = line.split()
        if fields[:1] in (["rule"], ["localrule"]) and line.rstrip().endswith(":"):
            if rule is not None:
                threads.setdefault(rule, set()).add(claimed)
            rule, claimed = fields[1].rstrip(":"), 1
        elif rule is not None and fields[:1] == ["threads:"]:
            claimed = int(fields[1])
    return threads


def test_torch_jobs_share_out_the_real_cores_and_benchmarks_run_alone(tmp_path):
    import os

    from slimrank.cores import job_threads

    # `--cores 8` (the README's command) on whatever this machine has; the later flag wins.
    config = tiny_workflow_config()
    done = run_snakemake(tmp_path, config, "all", "--dry-run", "--cores", "8")
    assert done.returncode == 0, done.stderr[-3000:]
    threads = planned_threads(done.stdout + done.stderr)
    machine = min(8, os.cpu_count())
    for rule in ("train_model", "rerank_shard"):
        (claimed,) = threads[rule]
        # Jobs Snakemake runs at once times the torch threads each uses: the whole machine,
        # never more.
        at_once = 8 // claimed
        assert at_once * job_threads(claimed, config["threads_per_job"]) == machine, claimed
    assert threads["benchmark_model"] == {8}  # the whole budget: nothing runs beside it


def test_missing_data_folder_fails_clearly_and_writes_nothing(tmp_path):
    config = tiny_workflow_config()
    config["local_datasets"]["msmarco-passage-mini"]["dir"] = str(tmp_path / "no-such-folder")
    done = run_snakemake(tmp_path / "work", config, "all")
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "no-such-folder does not exist" in message
    assert "config key local_datasets.msmarco-passage-mini.dir" in message
    assert not (tmp_path / "work/results").exists()
    assert not (tmp_path / "no-such-folder").exists()


def test_overlapping_splits_fail_naming_a_query_and_leave_no_split(tmp_path):
    config = copy.deepcopy(tiny_workflow_config())
    # train takes dev600 without excluding valid, which is also drawn from dev600.
    config["splits"]["train"]["sources"] = ["msmarco-passage-mini/dev600"]
    config["splits"]["train"]["exclude"] = []
    config["splits"]["train"]["sample"] = None
    done = run_snakemake(tmp_path / "work", config, "results/data/train/queries.tsv")
    assert done.returncode != 0
    assert "is in both split train and split valid" in done.stdout + done.stderr
    assert not (tmp_path / "work/results/data/train/queries.tsv").exists()


# ----------------------------------------------------------------------------- models


def test_every_variant_is_trained_saved_and_reloadable(tiny_run):
    from slimrank.models import load_cross_encoder

    layers = {"full": 6, "drop-L2": 2, "oneshot-match-L2": 6, "gmp-match-L2": 6}
    for variant, expected in layers.items():
        model, _ = load_cross_encoder(tiny_run / f"results/models/seed13/{variant}")
        assert model.config.num_hidden_layers == expected
        assert len(model.bert.encoder.layer) == expected
        assert model.classifier.out_features == 1
        summary = json.loads(
            (tiny_run / f"results/training/seed13/{variant}/summary.json").read_text()
        )
        assert summary["steps"] == (2 if variant.startswith("oneshot") else 3)
    # The sweep variant pruned gradually reaches its sparsity exactly and keeps it after reload.
    from slimrank.params import count_parameters

    swept, _ = load_cross_encoder(tiny_run / "results/models/seed13/gmp-s90")
    assert count_parameters(swept)["encoder_sparsity"] == pytest.approx(0.9, abs=1e-6)
    # The structured model is a narrower dense model, recovered like a one-shot model.
    narrow, _ = load_cross_encoder(tiny_run / "results/models/seed13/structured-w50")
    assert narrow.config.intermediate_size == 768 and narrow.config.num_hidden_layers == 6
    assert all(layer.intermediate.dense.out_features == 768 for layer in narrow.bert.encoder.layer)
    summary = json.loads(
        (tiny_run / "results/training/seed13/structured-w50/summary.json").read_text()
    )
    assert summary["steps"] == 2  # compression.recovery.max_steps


def test_params_table_matches_pruned_to_layer_drop_counts(tiny_run):
    table = pd.read_csv(tiny_run / "results/params/params.tsv", sep="\t").set_index("name")
    drop_total = table.loc["drop-L2", "total"]
    for variant in ("oneshot-match-L2", "gmp-match-L2", "lottery-match-L2"):
        row = table.loc[variant]
        assert row["matched_total"] == drop_total
        assert abs(row["nonzero"] / drop_total - 1) < 0.005
        assert abs(row["match_error"]) < 0.005
        assert row["total"] == table.loc["full", "total"]
    assert table.loc["gmp-s90", "encoder_sparsity"] == pytest.approx(0.9, abs=1e-6)
    assert table.loc["full", "encoder_sparsity"] < 0.001
    structured = table.loc["structured-w50"]
    assert structured["family"] == "structured" and structured["intermediate_size"] == 768
    assert table.loc["full", "intermediate_size"] == 1536
    # 768 neurons fewer in each of 6 layers, each an up row and bias and a down column
    assert structured["total"] == table.loc["full", "total"] - 6 * 768 * (2 * 384 + 1)


def test_every_variant_reranks_the_test_split_and_is_evaluated(tiny_run):
    variants = ["full", "drop-L2", "oneshot-match-L2", "gmp-match-L2", "lottery-match-L2",
                "gmp-s90", "structured-w50", "drop-L2-int8", "drop-L2-kd", "full-fp32",
                "drop-L2-bf16"]  # fmt: skip
    bm25 = read_run(tiny_run / "results/runs/dl19/bm25.trec")
    for variant in variants:
        run = read_run(tiny_run / f"results/runs/dl19/seed13/{variant}.trec")
        assert run.keys() == bm25.keys()
        for qid, docs in run.items():
            assert docs.keys() == bm25[qid].keys()  # top 5 reranked, the tail in BM25 order
            order = sorted(docs, key=docs.get, reverse=True)
            bm25_order = sorted(bm25[qid], key=lambda d: (-bm25[qid][d], d))
            assert order[5:] == bm25_order[5:]
            assert set(order[:5]) == set(bm25_order[:5])
    table = pd.read_csv(tiny_run / "results/metrics/metrics.tsv", sep="\t")
    dl19 = set(table[table.split == "dl19"].run)
    assert set(variants) | {"bm25", "bm25-fullcollection", "full+bm25-fullcollection"} == dl19
    significance = pd.read_csv(tiny_run / "results/metrics/significance.tsv", sep="\t")
    assert set(significance.baseline) == {"bm25", "full"}
    assert set(significance[significance.baseline == "full"].run) >= set(variants) - {"full"}


def test_seeded_variants_have_per_seed_models_runs_and_rows(tiny_run):
    """Two seeds of full and of oneshot-match-L2 (each compressed from its seed's full model):
    per-seed rows in metrics.tsv, different models; the main table shows mean ± sd."""
    import torch

    from slimrank.models import load_cross_encoder

    for variant in ("full", "oneshot-match-L2"):
        a, _ = load_cross_encoder(tiny_run / f"results/models/seed13/{variant}")
        b, _ = load_cross_encoder(tiny_run / f"results/models/seed14/{variant}")
        assert not torch.equal(a.classifier.weight, b.classifier.weight)
    assert not (tiny_run / "results/models/seed14/drop-L2").exists()  # seeds[0] only
    table = pd.read_csv(tiny_run / "results/metrics/metrics.tsv", sep="\t")
    dl19 = table[(table.split == "dl19") & (table.metric == "ndcg@10")]
    seeds = dl19.groupby("run")["seed"].apply(lambda s: sorted(s.dropna().astype(int)))
    assert seeds["full"] == [13, 14] and seeds["oneshot-match-L2"] == [13, 14]
    assert seeds["drop-L2"] == [13] and seeds["bm25"] == []
    full = dl19[dl19.run == "full"].value
    markdown = (tiny_run / "results/paper/main_table.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| full |"))
    assert f"{full.mean():.3f} ± {full.std(ddof=1):.3f}" in row
    significance = pd.read_csv(tiny_run / "results/metrics/significance.tsv", sep="\t")
    tested = significance[significance.run == "oneshot-match-L2"]
    assert set(tested.seeds) == {2} and tested.seeds_agree.between(0, 2).all()


def test_reranking_twice_gives_identical_files(tiny_run):
    path = tiny_run / "results/runs/dl19/seed13/full.trec"
    before = path.read_bytes()
    again = run_snakemake(
        tiny_run, tiny_workflow_config(), "--force", str(path.relative_to(tiny_run))
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert path.read_bytes() == before


def test_killed_training_resumes_to_the_same_model(tmp_path):
    """SIGKILL the workflow mid-training and rerun it: it ends with the uninterrupted weights."""
    import os
    import signal
    import subprocess
    import time

    from safetensors.torch import load_file

    from .conftest import snakemake_command

    config = tiny_workflow_config()
    # Killed at the first checkpoint (step 2), so most of the 16 steps run after the resume.
    config["training"].update(max_steps=16, checkpoint_every=2)
    work = tmp_path / "work"
    command = snakemake_command(work, config, "results/models/seed13/full")
    checkpoint = work / "results/training/seed13/full/work/checkpoint.pt"
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 600
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the workflow and its training job, at once
    process.wait()
    assert checkpoint.exists(), "training never wrote a checkpoint"
    assert not (work / "results/models/seed13/full").exists(), "training ended before the kill"

    # A killed Snakemake leaves its lock behind; unlocking is the documented first step.
    unlock = subprocess.run([*command, "--unlock"], capture_output=True, text=True, timeout=300)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = (work / "logs/train/seed13/full.log").read_text()
    assert "resum" in log.lower()
    interrupted = load_file(work / "results/models/seed13/full/model.safetensors")

    # The same job from scratch, never interrupted.
    import shutil

    shutil.rmtree(work / "results/training/seed13/full/work")
    fresh = run_snakemake(work, config, "--force", "results/models/seed13/full")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    uninterrupted = load_file(work / "results/models/seed13/full/model.safetensors")
    assert interrupted.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        assert (interrupted[name] == tensor).all(), name


def test_sharded_reranking_merges_into_the_unsharded_run(tiny_run, tmp_path):
    """The tiny config scores dl19 in 2 shards; scoring it whole gives the same bytes."""
    import torch

    from slimrank.rerank import Reranker, append_first_stage_tail
    from slimrank.trec import write_run

    config = tiny_workflow_config()
    assert config["rerank"]["shards"] == 2
    torch.set_num_threads(2)  # as the workflow's job
    reranker = Reranker.load(
        tiny_run / "results/models/seed13/full",
        max_length=config["model"]["max_length"],
        device=config["training"].get("device", "auto"),  # the schema default
        precision=config["precision"],
    )
    candidates = read_run(tiny_run / "results/runs/dl19/bm25.trec")
    reranked = reranker.rerank(
        candidates,
        read_tsv_pairs(tiny_run / "results/data/dl19/queries.tsv"),
        read_tsv_pairs(tiny_run / "results/data/collection.tsv"),
        depth=config["rerank"]["depth"],
        batch_size=config["rerank"]["batch_size"],
        progress=False,
    )
    write_run(append_first_stage_tail(reranked, candidates), tmp_path / "whole.trec", tag="full")
    merged = tiny_run / "results/runs/dl19/seed13/full.trec"
    assert merged.read_bytes() == (tmp_path / "whole.trec").read_bytes()


def test_efficiency_table_and_paper_files(tiny_run):
    table = pd.read_csv(tiny_run / "results/efficiency/efficiency.tsv", sep="\t").set_index("model")
    assert set(table.index) == {
        "full", "drop-L2", "oneshot-match-L2", "gmp-match-L2", "lottery-match-L2",
        "gmp-s90", "structured-w50", "drop-L2-int8", "full-fp32", "drop-L2-bf16", "full-st",
    }  # fmt: skip
    assert (table["throughput_pairs_per_s"] > 0).all()
    assert table.loc["drop-L2", "flops_per_pair"] < table.loc["full", "flops_per_pair"]
    # The structured model's FLOPs are counted at its width (the same tokens as the full model)
    structured, full = table.loc["structured-w50"], table.loc["full"]
    assert structured["flops_per_pair"] < full["flops_per_pair"]
    dense = structured["flops_per_pair"]  # no zeros to skip, but a few incidental ones
    assert structured["effective_flops_per_pair"] == pytest.approx(dense, rel=1e-3)
    assert table.loc["gmp-s90", "sparse_bytes"] < table.loc["gmp-s90", "dense_bytes"]
    assert table.loc["oneshot-match-L2", "csr_speedup"] > 0
    assert bool(table.loc["drop-L2-int8", "int8"])
    # Every row is timed against the fp32 full model; each precision row in its own arithmetic.
    assert (table["reference_precision"] == "fp32").all()
    assert table.loc["full-fp32", "precision"] == "fp32"
    assert table.loc["drop-L2-bf16", "precision"] == "bf16"
    assert table.loc["drop-L2-int8", "dtype"] == "int8"
    assert table.loc["full", "overlap_reference"] == "full-fp32"
    assert 0 < table.loc["drop-L2-int8", "top10_overlap"] <= 1
    # The peer scores the same pairs as the project's fp32 path, the same way.
    assert table.loc["full-st", "spearman"] > 0.999
    assert table.loc["full-st", "max_abs_diff"] < 1e-3
    # ... and its job also times the plain full model's precision, the row the paper quotes.
    assert table.loc["full-st", "scoring_precision"] == table.loc["full", "precision"]
    peer = table.loc["full-st"]
    ratio = peer["scoring_pairs_per_s"] / peer["throughput_pairs_per_s"]
    assert peer["scoring_over_peer"] == pytest.approx(ratio, rel=1e-4)
    for name in ("main_table.tex", "main_table.md", "numbers.tex", "split_tables.tex"):
        assert (tiny_run / "results/paper" / name).stat().st_size > 0
    for figure in ("effectiveness", "sparsity_sweep", "speed", "pareto", "per_query"):
        for ext in ("pdf", "png"):
            assert (tiny_run / f"results/paper/{figure}.{ext}").stat().st_size > 1000


def test_numbers_macros_match_the_metrics_table(tiny_run):
    from slimrank.macro_names import parse_macros

    macros = parse_macros((tiny_run / "results/paper/numbers.tex").read_text())
    table = pd.read_csv(tiny_run / "results/metrics/metrics.tsv", sep="\t")
    # A run with several training seeds is quoted as its mean over them.
    values = table[table.split == "dl19"].groupby(["run", "metric"])["value"].mean()
    roles = {"Full": "full", "FirstStage": "bm25", "DropOne": "drop-L2",
             "GmpMatchFocus": "gmp-match-L2", "SweepHighest": "gmp-s90"}  # fmt: skip
    for role, run in roles.items():
        for word, metric in (("Primary", "ndcg@10"), ("Secondary", "mrr@10")):
            assert macros[f"main{role}{word}"] == f"{values[run, metric]:.3f}"


def test_changing_a_figure_script_reruns_only_figure_jobs(tiny_run):
    import shutil

    from .conftest import REPO

    # A copy of the workflow whose speed-figure script differs by a comment.
    copy = tiny_run.parent / "workflow-copy"
    if not copy.exists():
        shutil.copytree(REPO / "workflow", copy / "workflow")
        shutil.copy(REPO / "Snakefile", copy / "Snakefile")
        shutil.copytree(REPO / "profiles", copy / "profiles")
        shutil.copytree(REPO / "src", copy / "src")
    script = copy / "workflow/scripts/figure_speed.py"
    script.write_text(script.read_text() + "\n# a changed plotting script\n")
    import subprocess
    import sys

    import yaml

    (tiny_run / "config.yaml").write_text(yaml.safe_dump(tiny_workflow_config(), sort_keys=False))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(copy / "Snakefile"),
         "--directory", str(tiny_run), "--configfile", str(tiny_run / "config.yaml"),
         "--cores", "1", "--dry-run", "--quiet", "rules", "all"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = planned_jobs(done.stdout + done.stderr)
    assert jobs.get("figure") == 1, done.stdout + done.stderr
    assert set(jobs) <= {"figure", "all"}, done.stdout + done.stderr


def test_report_holds_every_figure_with_its_caption(tiny_run):
    """`snakemake --report` renders; each figure's caption comes from the one Jinja caption."""
    import zipfile

    done = run_snakemake(tiny_run, tiny_workflow_config(), "--report", "report.zip")
    assert done.returncode == 0, done.stderr[-3000:]
    with zipfile.ZipFile(tiny_run / "report.zip") as archive:
        names = archive.namelist()
        text = "\n".join(
            archive.read(n).decode("utf-8", "replace") for n in names if n.endswith(".html")
        )
    for figure in ("effectiveness", "sparsity_sweep", "speed", "pareto", "per_query"):
        assert any(n.endswith(f"{figure}.pdf") for n in names), figure
    for caption in ("non-zero parameters", "sparsity sweep", "measured reranking throughput",
                    "best compressed model and the full model"):  # fmt: skip
        assert caption in text, caption
