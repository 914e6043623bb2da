"""The per-rule conda environments (envs/*.yaml) can run their rules' scripts.

`snakemake --sdm conda` runs each rule's script in the environment its `conda:` names, with
src/ on PYTHONPATH. So every third-party module the script imports, directly or through
`slimrank` modules (lazy imports inside functions included), must come from a package that
environment lists; and the pins there are pyproject.toml's, which the tests run against.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

SRC = REPO / "src"
RULE_FILES = sorted((REPO / "workflow/rules").glob("*.smk"))
# A rule header and the directives of its body (snakefmt layout: directive on its own line,
# its value indented below it).
RULE = re.compile(r"^rule (\w+):\n((?:(?:[ \t]+.*)?\n)*)", re.MULTILINE)
DIRECTIVE = r"^[ \t]+{}:\n[ \t]+\"([^\"]+)\""


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def rules_with_conda_scripts() -> list[tuple[str, Path, list[Path]]]:
    """(rule, env file, scripts) of every rule with both `conda:` and `script:`; a script path
    with a wildcard (figure_{wildcards.figure}.py) stands for every script it can name."""
    found = []
    for rule_file in RULE_FILES:
        for match in RULE.finditer(rule_file.read_text()):
            name, body = match.groups()
            conda = re.search(DIRECTIVE.format("conda"), body, re.MULTILINE)
            script = re.search(DIRECTIVE.format("script"), body, re.MULTILINE)
            if not (conda and script):
                continue
            pattern = re.sub(r"\{[^}]*\}", "*", script.group(1))
            scripts = sorted(rule_file.parent.glob(pattern))
            assert scripts, f"rule {name}: no script matches {script.group(1)}"
            found.append((name, (rule_file.parent / conda.group(1)).resolve(), scripts))
    return found


def module_file(module: str) -> Path | None:
    """The source file of a `slimrank` module (None for a name that is not one)."""
    path = SRC.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Absolute module names `path` imports anywhere in its body, functions included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            # `from slimrank import models` imports the module slimrank.models.
            names.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if module_file(f"{node.module}.{alias.name}")
            )
    return frozenset(names)


def third_party_imports(script: Path) -> dict[str, list[str]]:
    """Top-level third-party modules `script` needs, each with the chain of imports that leads
    to it (for the failure message). A `package:` model base counts where slimrank.models is
    reached: it imports that package by name, which no import statement shows."""
    needed: dict[str, list[str]] = {}
    chains = {script: [script.name]}
    queue = [script]
    while queue:
        path = queue.pop(0)
        for name in sorted(imports_of(path)):
            top = name.partition(".")[0]
            if top == "slimrank":
                target = module_file(name)
                assert target, f"{path}: imports {name}, which src/ does not have"
                if target not in chains:
                    chains[target] = [*chains[path], name]
                    queue.append(target)
            elif top not in sys.stdlib_module_names and top != "__future__":
                needed.setdefault(top, [*chains[path], name])
    models = module_file("slimrank.models")
    if models in chains:
        for package in model_packages():
            needed.setdefault(package, [*chains[models], f"package:{package}"])
    return needed


@cache
def model_packages() -> frozenset[str]:
    """Modules named by a `package:` model base in the shipped configs: slimrank.models
    imports them by name, which no import statement shows."""
    packages = set()
    for path in [*(REPO / "config").glob("*.yaml"), *(REPO / ".test/config").glob("*.yaml")]:
        base = (yaml.safe_load(path.read_text()).get("model") or {}).get("base", "")
        if base.startswith("package:"):
            packages.add(base.removeprefix("package:").strip())
    return frozenset(packages)


def env_pins(env_file: Path) -> dict[str, str]:
    """{normalized name: version} of the pip requirements of a conda environment file."""
    pins = {}
    for entry in yaml.safe_load(env_file.read_text())["dependencies"]:
        if isinstance(entry, dict):
            for requirement in entry["pip"]:
                name, sep, version = requirement.partition("==")
                assert sep and version, f"{env_file.name}: {requirement!r} is not an exact pin"
                pins[normalize(name)] = version.strip()
    return pins


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def pyproject_pins() -> dict[str, str]:
    project = pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    pins = {}
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        assert sep, f"pyproject.toml: {requirement!r} is not an exact pin"
        pins[normalize(name)] = version.strip()
    return pins


@cache
def installed_modules() -> dict[str, list[str]]:
    return packages_distributions()  # scans every installed distribution: once


def providers(module: str) -> set[str]:
    """Distributions (normalized) that install the top-level `module`, as this environment
    knows them (the tests run with pyproject.toml's packages installed)."""
    return {normalize(d) for d in installed_modules().get(module, [])}


RULES = rules_with_conda_scripts()


def test_rules_with_scripts_are_found():
    names = {name for name, _, _ in RULES}
    # One rule of each environment and the wildcard script, so a parser that misses rules
    # cannot pass the test below vacuously.
    assert {"collection", "train_model", "rerank_shard", "figure", "merge_run"} <= names
    assert len(RULES) >= 19
    figure = next(scripts for name, _, scripts in RULES if name == "figure")
    assert len(figure) == 5


@pytest.mark.parametrize(("rule", "env_file", "scripts"), RULES, ids=[r[0] for r in RULES])
def test_env_provides_every_module_the_rule_script_imports(rule, env_file, scripts):
    listed = set(env_pins(env_file))
    missing = []
    for script in scripts:
        needed = third_party_imports(script)
        for module, chain in sorted(needed.items()):
            found = providers(module)
            if not found:
                missing.append(f"{module} (not installed here, so no package is known for it)")
            elif not found & listed:
                missing.append(f"{module} (from {sorted(found)}): {' -> '.join(chain)}")
    assert not missing, f"rule {rule}: {env_file.name} lacks\n  " + "\n  ".join(missing)


def test_import_walk_sees_lazy_and_transitive_imports(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import json\n\n\ndef main():\n    import pandas\n\n\nfrom slimrank import bm25\n"
    )
    needed = third_party_imports(script)
    # pandas: lazily in the script; regex: through slimrank.lucene; Stemmer: lazily inside
    # functions of slimrank.bm25 and slimrank.lucene; json is the standard library's.
    assert {"pandas", "bm25s", "numpy", "scipy", "regex", "Stemmer"} == set(needed)
    assert needed["regex"] == ["script.py", "slimrank.bm25", "slimrank.lucene", "regex"]


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_are_pyproject_pins(env_file):
    pins = pyproject_pins()
    for name, version in env_pins(env_file).items():
        assert name in pins, f"{env_file.name}: {name} is not a dependency in pyproject.toml"
        assert version == pins[name], (
            f"{env_file.name}: {name}=={version}, pyproject.toml pins {pins[name]}"
        )
    python = [
        entry
        for entry in yaml.safe_load(env_file.read_text())["dependencies"]
        if isinstance(entry, str) and entry.startswith("python=")
    ]
    if python:
        minimum = pyproject()["project"]["requires-python"]
        assert minimum.startswith(">="), minimum
        have = tuple(int(x) for x in python[0].removeprefix("python=").split("."))
        assert have >= tuple(int(x) for x in minimum.removeprefix(">=").split("."))
