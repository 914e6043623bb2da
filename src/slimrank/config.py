"""Checks of the workflow config that a JSON schema cannot express, and derived tables.

The schema (workflow/schemas/config.schema.yaml) checks keys, types and defaults; this module
checks references between keys (a split excluding a later split, a source naming an unknown
local subset, ...). Every error names the config key.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from slimrank.data import LocalDataset, local_dataset_from_config
from slimrank.study import variant_table

#: Metric names ranx 0.3 computes (``ranx.metrics.metric_switch``) that the schema's pattern
#: admits; ``tests/test_config.py`` checks the list against ranx itself. Kept here so that
#: parsing the workflow does not import ranx (numba).
RANX_METRICS = (
    "hits",
    "hit_rate",
    "precision",
    "recall",
    "f1",
    "mrr",
    "map",
    "dcg",
    "dcg_burges",
    "ndcg",
    "ndcg_burges",
    "bpref",
)


class ConfigError(ValueError):
    """The config is inconsistent; the message names the key."""


def local_datasets(config: Mapping, root: Path) -> dict[str, LocalDataset]:
    return {
        name: local_dataset_from_config(name, entry, root)
        for name, entry in config.get("local_datasets", {}).items()
    }


def splits_with_role(config: Mapping, role: str) -> list[str]:
    return [name for name, split in config["splits"].items() if split["role"] == role]


def check_config(config: Mapping) -> None:
    """Raise ``ConfigError`` naming the key when config entries refer to each other wrongly."""
    splits = config["splits"]
    for role in ("train", "valid"):
        found = splits_with_role(config, role)
        if len(found) != 1:
            raise ConfigError(
                f"splits: exactly one split needs role {role!r}, found {len(found)} ({found})"
            )
    local = config.get("local_datasets", {})

    def check_source(source: str, key: str) -> None:
        name, _, subset = source.partition("/")
        if name in local and subset and subset not in local[name].get("subsets", {}):
            raise ConfigError(
                f"{key}: {source!r} names subset {subset!r}, which local_datasets.{name}.subsets "
                f"does not define (defined: {sorted(local[name].get('subsets', {}))})"
            )

    check_source(config["collection"], "collection")
    seen: list[str] = []
    for name, split in splits.items():
        for i, source in enumerate(split["sources"]):
            check_source(source, f"splits.{name}.sources[{i}]")
        for other in split.get("exclude", []):
            if other not in seen:
                raise ConfigError(
                    f"splits.{name}.exclude: {other!r} is not a split defined before {name!r}"
                )
        seen.append(name)
    for name, ref in config.get("reference_runs", {}).items():
        if ref["split"] not in splits:
            raise ConfigError(f"reference_runs.{name}.split: no split named {ref['split']!r}")
        if ref.get("dataset") and ref["dataset"] not in local:
            raise ConfigError(
                f"reference_runs.{name}.dataset: no local dataset named {ref['dataset']!r}"
            )
        if name == "bm25":
            raise ConfigError(f"reference_runs.{name}: the name 'bm25' is the workflow's own run")


def check_references(config: Mapping) -> None:
    """Raise ``ConfigError`` naming the key when a config value names something that does not
    exist: an ir_datasets id, the paper's split, a variant, a metric."""
    local = config.get("local_datasets", {})

    def check_id(dataset_id: str, key: str, needs_queries: bool) -> None:
        name, _, subset = dataset_id.partition("/")
        if name in local:
            if needs_queries and not subset:
                raise ConfigError(
                    f"{key}: {dataset_id!r} is the documents of local dataset {name!r}; a split "
                    f"source needs queries, {name!r}/<subset> (subsets: "
                    f"{sorted(local[name].get('subsets', {}))})"
                )
            return
        import ir_datasets  # only for official ids: a local-only config never loads it

        if dataset_id not in ir_datasets.registry:
            raise ConfigError(
                f"{key}: {dataset_id!r} is neither an ir_datasets id (ir_datasets "
                f"{ir_datasets.__version__}) nor a dataset of local_datasets ({sorted(local)})"
            )

    check_id(config["collection"], "collection", needs_queries=False)
    for name, split in config["splits"].items():
        for i, source in enumerate(split["sources"]):
            check_id(source, f"splits.{name}.sources[{i}]", needs_queries=True)

    test_splits = splits_with_role(config, "test")
    paper_split = config.get("paper", {}).get("split")
    if paper_split is not None and paper_split not in test_splits:
        raise ConfigError(
            f"paper.split: {paper_split!r} is not a test split (test splits: {test_splits}); "
            "the main table and figures need the models' runs, which only test splits have"
        )
    if not test_splits:
        raise ConfigError("splits: no split has role 'test', so no model is evaluated")

    variants = [v.name for v in variant_table(config)]
    efficiency = config.get("efficiency", {})
    for key in ("fp32", "bf16", "int8", "sparse_check"):
        unknown = [name for name in efficiency.get(key, []) if name not in variants]
        if unknown:
            raise ConfigError(
                f"efficiency.{key}: {unknown} name no model variant (variants: {variants})"
            )

    metrics = config.get("evaluation", {}).get("metrics", [])
    for i, metric in enumerate(metrics):
        if metric.split("@")[0] not in RANX_METRICS:
            raise ConfigError(
                f"evaluation.metrics[{i}]: ranx has no metric {metric!r} (known: {RANX_METRICS})"
            )
    for key in ("table_metrics", "figure_metrics"):
        for i, metric in enumerate(config.get("paper", {}).get(key, [])):
            if metric not in metrics:
                raise ConfigError(
                    f"paper.{key}[{i}]: {metric!r} is not in evaluation.metrics ({metrics})"
                )


def base_model_folder(spec: str) -> Path | None:
    """The local folder of ``model.base``, or None for a hub id with no cached config.json.

    Torch-free (the Snakefile calls it): a package that has ``get_model_path()`` is asked
    directly, other packages go through ``slimrank.models.resolve_model_path``.
    """
    if spec.startswith("package:"):
        name = spec.removeprefix("package:").strip()
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ConfigError(f"model.base: cannot import package {name!r} ({error})") from error
        getter = getattr(module, "get_model_path", None)
        if callable(getter):
            return Path(getter())
        from slimrank.models import resolve_model_path

        try:
            return Path(resolve_model_path(spec))
        except ValueError as error:
            raise ConfigError(f"model.base: {error}") from error
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cached = try_to_load_from_cache(spec, "config.json")
    return Path(cached).parent if isinstance(cached, str) else None


def model_layers(folder: Path) -> int | None:
    """The encoder layer count in a model folder's config.json (None when it names none)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def check_model_layers(config: Mapping) -> None:
    """``compression.layers`` must not exceed the base model's layer count, read once from its
    config.json; a hub id that is not in the local cache is not checked."""
    spec = config.get("model", {}).get("base", "")
    layers = config.get("compression", {}).get("layers", [])
    if not layers:
        return
    folder = base_model_folder(spec)
    if folder is None:
        return
    if not (folder / "config.json").is_file():
        raise ConfigError(f"model.base: {spec!r} resolves to {folder}, which has no config.json")
    available = model_layers(folder)
    too_deep = [n for n in layers if available is not None and n > available]
    if too_deep:
        raise ConfigError(
            f"compression.layers: {too_deep} exceed the {available} layers of model.base "
            f"{spec!r} ({folder / 'config.json'})"
        )


def data_job_entries(local: Mapping, dataset_ids: list[str], docs_only: bool) -> dict:
    """The entries of ``local`` (``local_datasets``) that a data job reading ``dataset_ids``
    needs, so that its parameters change only with what it reads: the collection job
    (``docs_only``) gets no subsets, a split job only the subsets it reads and no
    ``expected_docs``."""
    out: dict = {}
    for dataset_id in dataset_ids:
        name, _, subset = dataset_id.partition("/")
        if name not in local:
            continue
        dropped = ("subsets",) if docs_only else ("subsets", "expected_docs")
        entry = out.setdefault(
            name, {**{k: v for k, v in local[name].items() if k not in dropped}, "subsets": {}}
        )
        if subset and not docs_only:
            entry["subsets"][subset] = local[name]["subsets"][subset]
    return out


def check_yaml_file(path: str | os.PathLike) -> None:
    """Raise ``ConfigError`` naming the file and line when ``path`` is not valid YAML."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            yaml.safe_load(handle)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def schema_error_message(error: Exception) -> str:
    """A short message for a schema validation error: the key and the offending value.

    ``error`` is snakemake's WorkflowError from ``validate`` (raised while handling
    jsonschema's ValidationError, its ``__context__``) or the ValidationError itself.
    """
    import jsonschema

    found = error
    while found is not None and not isinstance(found, jsonschema.ValidationError):
        found = found.__cause__ or found.__context__
    if found is None:
        return f"invalid config: {error}"
    cause = jsonschema.exceptions.best_match([found, *found.context]) or found
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in cause.absolute_path).replace(
        ".[", "["
    )
    message = cause.message
    if len(message) > 300:
        message = message[:300] + " ..."
    where = f"config key {key}" if key else "config (top level)"
    if isinstance(cause.instance, (dict, list)):
        return f"invalid config: {where}: {message}"
    return f"invalid config: {where}: {message} (value: {cause.instance!r})"
