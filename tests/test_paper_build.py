"""The manuscript compiles from generated files shaped like the embedded default's outputs."""

import shutil
import subprocess

import pytest

from slimrank.figures import plot_effectiveness, plot_per_query, plot_sparsity_sweep, plot_speed
from slimrank.report import main_table, main_table_caption, numbers_macros, to_latex

from .conftest import REPO
from .test_report import default_frames


@pytest.mark.skipif(
    shutil.which("latexmk") is None,
    reason="latexmk is not installed (Debian: apt-get install latexmk texlive-latex-extra)",
)
def test_paper_compiles_with_generated_inputs(tmp_path):
    metrics, significance, params, efficiency = default_frames()
    generated = tmp_path / "generated"
    generated.mkdir()
    table = main_table(metrics, significance, params, "dl19", ["ndcg@10", "mrr@10", "map@1000"])
    caption = main_table_caption(table, "dl19", 43)
    (generated / "main_table.tex").write_text(to_latex(table, caption, "tab:main"))
    (generated / "numbers.tex").write_text(
        numbers_macros(metrics, params, significance, efficiency)
    )
    plot_effectiveness(metrics, params, generated / "effectiveness")
    plot_sparsity_sweep(metrics, params, generated / "sparsity_sweep")
    plot_speed(metrics, efficiency, generated / "speed")
    scores = {f"q{i}": 0.1 * (i % 7) for i in range(20)}
    plot_per_query(scores, {q: 0.3 for q in scores}, generated / "per_query")
    shutil.copy(REPO / "paper/paper.tex", tmp_path)
    shutil.copy(REPO / "paper/references.bib", tmp_path)
    done = subprocess.run(
        ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "paper.pdf").read_bytes().startswith(b"%PDF")
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log
    assert "Citation" not in log or "undefined" not in log
