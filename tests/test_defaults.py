"""One source of defaults: where the library has a default for a config key, it is the schema's."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import yaml

from slimrank.bm25 import BM25Settings
from slimrank.losses import Distillation
from slimrank.macros import DEPLOYMENT_TARGET
from slimrank.pruning import GradualMagnitudePruning
from slimrank.rerank import Reranker
from slimrank.training import TrainSettings

from .conftest import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())

#: TrainSettings fields that are read from outside the schema's ``training`` section.
TRAINING_ELSEWHERE = {"max_length": "model.max_length", "precision": "precision"}
#: TrainSettings fields that no config key sets (the library's own choices).
TRAINING_LIBRARY_ONLY = {"max_grad_norm", "select_after_step"}


def schema_default(path: str):
    """The default of the config key ``path`` (dotted), as the schema states it."""
    node = SCHEMA
    for key in path.split("."):
        node = node["properties"][key]
    assert "default" in node, f"the schema has no default for {path}"
    return node["default"]


def dataclass_defaults(cls) -> dict:
    return {
        f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }


def parameter_defaults(function) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_every_training_setting_has_the_schema_default():
    defaults = dataclass_defaults(TrainSettings)
    assert set(defaults) == {f.name for f in dataclasses.fields(TrainSettings)}
    section = set(SCHEMA["properties"]["training"]["properties"])
    # Every training key of the schema is a setting, and every setting is accounted for.
    assert section <= set(defaults)
    assert set(defaults) == section | set(TRAINING_ELSEWHERE) | TRAINING_LIBRARY_ONLY
    for name, value in defaults.items():
        if name in TRAINING_LIBRARY_ONLY:
            continue
        path = TRAINING_ELSEWHERE.get(name, f"training.{name}")
        expected = schema_default(path)
        if name == "seed":  # null in the schema: the top-level seed
            assert expected is None
            expected = schema_default("seed")
        assert value == expected, f"TrainSettings.{name} = {value!r}, schema {path}: {expected!r}"


# Library defaults outside TrainSettings, by the config key they stand for.
OTHER_DEFAULTS = {
    "reranker": (
        parameter_defaults(Reranker.load),
        {"precision": "precision", "device": "training.device"},
    ),
    "bm25": (
        dataclass_defaults(BM25Settings),
        {key: f"bm25.{key}" for key in ("k1", "b", "analyzer", "stemmer", "stopwords")},
    ),
    "distillation": (
        dataclass_defaults(Distillation),
        {
            key: f"distillation.{key}"
            for key in ("loss", "temperature", "kd_weight", "label_weight")
        },
    ),
    "deployment_target": (
        DEPLOYMENT_TARGET,
        {key: f"paper.deployment_target.{key}" for key in ("speedup", "max_loss_pct")},
    ),
    "gmp": (
        parameter_defaults(GradualMagnitudePruning),
        {"frequency": "compression.gmp.frequency", "scope": "compression.scope"},
    ),
}


@pytest.mark.parametrize("owner", sorted(OTHER_DEFAULTS))
def test_library_defaults_are_the_schema_defaults(owner):
    defaults, keys = OTHER_DEFAULTS[owner]
    for name, path in keys.items():
        assert defaults[name] == schema_default(path), f"{owner} {name} vs {path}"
