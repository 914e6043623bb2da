"""Checks of the workflow config that a JSON schema cannot express, and derived tables.

The schema (workflow/schemas/config.schema.yaml) checks keys, types and defaults; this module
checks references between keys (a split excluding a later split, a source naming an unknown
local subset, ...). Every error names the config key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from slimrank.data import LocalDataset, local_dataset_from_config


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


def register_datasets(local: Mapping, root: str | Path = ".") -> None:
    """Register every local dataset of the config with ir_datasets (folders relative to
    ``root``; the workflow passes them resolved)."""
    from slimrank.data import register_local_dataset

    for name, entry in local.items():
        dataset = local_dataset_from_config(name, entry, Path(root))
        dataset.check_files()
        register_local_dataset(dataset)


# ----------------------------------------------------------------------------- cores
def job_cores(cores: int, threads_per_job: int | None, machine: int | None = None) -> int:
    """What a training or scoring job claims of Snakemake's ``--cores`` budget.

    Its share of the real machine (``machine`` cores, default this one's): with
    ``threads_per_job`` 1, ``--cores 8`` on 2 cores gives each job 4, so two run at a time,
    not eight; null claims everything, so such jobs run one at a time.
    """
    usable = max(1, min(cores, machine or os.cpu_count() or 1))
    threads = min(threads_per_job or usable, usable)
    return max(1, cores * threads // usable)


def job_threads(granted: int, per_job: int | None = None) -> int:
    """Torch threads for a job Snakemake granted ``granted`` cores.

    At most ``per_job`` (None: no limit) and never more than this machine has, since
    ``--cores 8`` on a 2-core machine grants a job more cores than exist. Computed inside the
    job, so that on a cluster node it is that node's core count that counts.
    """
    return max(1, min(granted, per_job or granted, os.cpu_count() or 1))
