"""The variant table: one row per model of the study, derived from the config.

Names are what the result paths and tables show:

- ``full``: the base encoder fine-tuned with every layer;
- ``drop-L{L}``: the bottom (or evenly spaced) ``L`` layers of the pre-trained encoder, then
  fine-tuned like ``full``;
- ``{schedule}-match-L{L}``: unstructured magnitude pruning of the full-depth encoder to the
  non-zero parameter count of ``drop-L{L}`` (the sparsity is computed from real counts when
  the variant is made);
- ``{schedule}-s{pct}``: the high-sparsity sweep, ``pct`` percent of the encoder Linear weights
  zeroed.

Schedules: ``oneshot`` (fine-tuned full model, pruned, recovery fine-tuning with the mask held),
``gmp`` (gradual magnitude pruning from the pre-trained model during fine-tuning, cubic
schedule), ``lottery`` (mask of the pruned fine-tuned model, survivors rewound to pre-trained
values, retrained with the mask held). Adding a layer count, a sparsity or a schedule is a
config change; the rules expand this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

SCHEDULES = ("oneshot", "gmp", "lottery")


@dataclass(frozen=True)
class Variant:
    name: str
    family: str  # full | drop | prune
    schedule: str  # finetune | oneshot | gmp | lottery
    layers: int | None  # layers kept by a drop variant; None: every layer of the base model
    match_layers: int | None  # prune: matched to the parameter count of drop-L{match_layers}
    sparsity: float | None  # prune sweep: fraction of encoder Linear weights zeroed
    seed: int

    @property
    def starts_from_full(self) -> bool:
        """Made from the fine-tuned full model (its mask, at least) rather than the base."""
        return self.schedule in ("oneshot", "lottery")

    def row(self) -> dict:
        return asdict(self)


def sweep_name(schedule: str, sparsity: float) -> str:
    return f"{schedule}-s{round(sparsity * 100):d}"


def variant_table(config: Mapping) -> list[Variant]:
    """Every variant the config asks for, ``full`` first; names are unique."""
    compression = config.get("compression", {})
    seed = config.get("seed", 0)
    variants = [Variant("full", "full", "finetune", None, None, None, seed)]
    for layers in compression.get("layers", []):
        variants.append(Variant(f"drop-L{layers}", "drop", "finetune", layers, None, None, seed))
    for schedule, layer_counts in compression.get("matched", {}).items():
        for layers in layer_counts:
            variants.append(
                Variant(f"{schedule}-match-L{layers}", "prune", schedule, None, layers, None, seed)
            )
    sweep = compression.get("sweep", {})
    for schedule in sweep.get("schedules", []):
        for sparsity in sweep.get("sparsities", []):
            variants.append(
                Variant(
                    sweep_name(schedule, sparsity), "prune", schedule, None, None, sparsity, seed
                )
            )
    names = [v.name for v in variants]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"compression: variants defined twice: {duplicated}")
    return variants


def check_variants(config: Mapping) -> None:
    """Matched variants need their layer-drop partner's layer count in ``compression.layers``."""
    compression = config.get("compression", {})
    layers = set(compression.get("layers", []))
    for schedule, layer_counts in compression.get("matched", {}).items():
        if schedule not in SCHEDULES:
            raise ValueError(f"compression.matched.{schedule}: unknown schedule ({SCHEDULES})")
        missing = sorted(set(layer_counts) - layers)
        if missing:
            raise ValueError(
                f"compression.matched.{schedule}: {missing} are not in compression.layers, "
                "so there is no layer-drop model to match"
            )
