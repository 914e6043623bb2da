"""The manuscript compiles: from generated files shaped like each study's outputs, and from a
tiny workflow run under a config shaped like config/msmarco.yaml (12 layers, 3/6/9, two test
splits). Needs latexmk and TeX Live; skipped otherwise."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from slimrank.figures import (
    plot_effectiveness,
    plot_pareto,
    plot_per_query,
    plot_sparsity_sweep,
    plot_speed,
)
from slimrank.macros import numbers_macros
from slimrank.tables import main_table, main_table_caption, split_tables, to_latex

from .conftest import MINI, REPO, run_snakemake, save_tiny_bert, tiny_workflow_config
from .test_macros import SHAPES, study_frames

TEX_PACKAGES = "latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended"
needs_latexmk = pytest.mark.skipif(
    shutil.which("latexmk") is None,
    reason=f"latexmk is not installed (Debian: apt-get install {TEX_PACKAGES})",
)
TABLE_METRICS = ["ndcg@10", "mrr@10", "map@1000"]
TEXT_METRICS = ["ndcg@10", "mrr@10"]


def latexmk(folder) -> str:
    """Build paper.pdf in ``folder``; returns the log after asserting a clean build."""
    done = subprocess.run(
        ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (folder / "paper.pdf").read_bytes().startswith(b"%PDF")
    log = (folder / "paper.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log
    assert "Citation" not in log or "undefined" not in log
    return log


@needs_latexmk
@pytest.mark.parametrize("shape", list(SHAPES))
def test_paper_compiles_with_generated_inputs(tmp_path, shape):
    make_config, splits, references = SHAPES[shape]
    metrics, significance, params, efficiency = study_frames(make_config(), splits, references)
    main = splits[0]
    generated = tmp_path / "generated"
    generated.mkdir()
    table = main_table(metrics, significance, params, main, TABLE_METRICS)
    caption = main_table_caption(table, main, 43)
    (generated / "main_table.tex").write_text(to_latex(table, caption, "tab:main"))
    (generated / "split_tables.tex").write_text(
        split_tables(metrics, significance, params, list(splits), main, TABLE_METRICS)
    )
    (generated / "numbers.tex").write_text(
        numbers_macros(
            metrics,
            params,
            significance,
            efficiency,
            test_splits=list(splits),
            main_split=main,
            text_metrics=TEXT_METRICS,
            counts={"train queries": 2536, "valid queries": 150},
        )
    )
    plot_effectiveness(metrics, params, generated / "effectiveness", main, TEXT_METRICS)
    plot_sparsity_sweep(metrics, params, generated / "sparsity_sweep", main, TEXT_METRICS)
    plot_speed(metrics, efficiency, generated / "speed", main, TEXT_METRICS[0])
    plot_pareto(metrics, efficiency, generated / "pareto", main, TEXT_METRICS[0])
    scores = {f"q{i}": 0.1 * (i % 7) for i in range(20)}
    plot_per_query(scores, {q: 0.3 for q in scores}, generated / "per_query", "x", "ndcg@10")
    shutil.copy(REPO / "paper/paper.tex", tmp_path)
    shutil.copy(REPO / "paper/references.bib", tmp_path)
    latexmk(tmp_path)


def tiny_bert_12(folder):
    """A random 12-layer BERT (hidden 32) with the MiniLM tokenizer, saved for from_pretrained."""
    return save_tiny_bert(folder, layers=12, max_positions=256)


def paper_shaped_config(model_dir) -> dict:
    """The tiny integration config reshaped like config/msmarco.yaml: a 12-layer base model,
    layer drops 3/6/9 matched by one-shot pruning, gmp and lottery at the middle size (the
    paper's focus pair), a two-schedule sweep at one sparsity, two test splits (the paper's
    split is the second), no reference runs. Smaller than msmarco.yaml's every-schedule grid
    (19 models took 15 minutes here, 11 are enough to exercise every macro role)."""
    config = tiny_workflow_config()
    config["model"]["base"] = str(model_dir)
    config["reference_runs"] = {}
    subsets = config["local_datasets"]["msmarco-passage-mini"]["subsets"]
    assert "devsmall-rest" in subsets and MINI.is_dir()
    config["splits"] = {
        "dl19": {**config["splits"]["dl19"], "sample": 4},
        "devtest": {
            "role": "test",
            "sources": ["msmarco-passage-mini/devsmall-rest"],
            "require_positive": True,
            # Most devsmall judgements point outside the mini collection (SOURCE.md).
            "max_missing_judged": 1.0,
            "sample": 4,
        },  # fmt: skip
        "valid": config["splits"]["valid"],
        "train": {**config["splits"]["train"], "exclude": ["valid", "devtest"]},
    }
    config["compression"].update(
        layers=[3, 6, 9],
        matched={"oneshot": [3, 6, 9], "gmp": [6], "lottery": [6]},
        sweep={"schedules": ["oneshot", "gmp"], "sparsities": [0.9]},
    )
    config["rerank"]["shards"] = 1
    config["efficiency"].update(int8=["drop-L3"], bf16=["drop-L3"], fp32=["full"], sparse_check=[])
    config["paper"] = {**config.get("paper", {}), "split": "devtest"}
    # One training seed: the tiny config's seeded student is not in this grid, and seeds are
    # exercised by tests/test_workflow.py.
    config["seeded_variants"] = []
    # One distilled student, so the tables and the PDF are built with a -kd row.
    config["distillation"] = {**config["distillation"], "students": ["drop-L6"]}
    return config


@needs_latexmk
@pytest.mark.integration
def test_paper_builds_for_a_paper_shaped_study(tmp_path):
    config = paper_shaped_config(tiny_bert_12(tmp_path / "bert12"))
    done = run_snakemake(tmp_path / "run", config, "paper")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    pdf = tmp_path / "run/results/paper/paper.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    log = (tmp_path / "run/results/paper/build/paper.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log
    numbers = (tmp_path / "run/results/paper/numbers.tex").read_text()
    assert r"\newcommand{\testSplitCount}{2}" in numbers
    assert r"\newcommand{\pairLayersList}{9, 6 and 3}" in numbers
    assert r"\label{tab:split-1}" in (tmp_path / "run/results/paper/split_tables.tex").read_text()
