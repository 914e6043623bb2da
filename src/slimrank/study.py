"""The study's contract: its variants, the names of its runs, the columns of its result tables
and the roles runs play in the paper. Every other module asks here; nothing is defined twice.

**Variants** (one row per model of the study, derived from the config):

- ``full``: the base encoder fine-tuned with every layer;
- ``drop-L{L}``: the bottom (or evenly spaced) ``L`` layers of the pre-trained encoder, then
  fine-tuned like ``full``;
- ``{schedule}-match-L{L}``: unstructured magnitude pruning of the full-depth encoder to the
  non-zero parameter count of ``drop-L{L}`` (the sparsity is computed from real counts when
  the variant is made);
- ``{schedule}-s{pct}``: the high-sparsity sweep, ``pct`` percent of the encoder Linear weights
  zeroed;
- ``structured-match-L{L}``: structured pruning (:mod:`slimrank.structured`): FFN neurons
  removed physically from the fine-tuned full model, the same number in every layer, until its
  total parameter count is that of ``drop-L{L}`` (within 0.5%), then recovery fine-tuning;
- ``structured-w{pct}``: the structured family's own sizes, ``pct`` percent of each layer's FFN
  neurons kept.

Schedules: ``oneshot`` (fine-tuned full model, pruned, recovery fine-tuning with the mask held),
``gmp`` (gradual magnitude pruning from the pre-trained model during fine-tuning, cubic
schedule), ``lottery`` (mask of the pruned fine-tuned model, survivors rewound to pre-trained
values, retrained with the mask held). Structured models are made one-shot too (fine-tuned full
model, pruned, recovered) but hold no mask: the neurons are gone. Adding a layer count, a
sparsity, a width or a schedule is a config change; the rules expand this table.

**Runs** are named after the model that reranked them: a variant (scored in the config's
``precision``), ``<variant>-fp32``, ``<variant>-bf16`` and ``<variant>-int8`` (the efficiency
stage's precision rows: that model in exactly this arithmetic, int8 through torchao),
``bm25`` and other first-stage runs starting with ``bm25``, and ``full+<reference>`` (the full
model reranking a reference run). ``<model>-st`` names the peer row of the efficiency table
(sentence-transformers ``CrossEncoder.predict`` on the model; timed, not reranked). The names
are built by :func:`drop_name`, :func:`matched_name`, :func:`sweep_name`,
:func:`structured_match_name`, :func:`structured_width_name`, :func:`precision_name`
(:func:`int8_name`) and :func:`peer_name` and read back by :func:`parse_run`, side by side, so
the two cannot disagree.

**Tables**: :data:`PARAMS`, :data:`EFFICIENCY`, :data:`METRICS` and :data:`SIGNIFICANCE` name the
columns of ``results/params/params.tsv``, ``results/efficiency/efficiency.tsv`` and
``results/metrics/{metrics,significance}.tsv``; writers and readers both use them.

**Roles** (:func:`matched_sizes`, :func:`focus_size`, :func:`sweep_runs`,
:func:`best_compressed`) say which run is "the layer-drop model of the k-th size", "the pruned
model matched to it", "the best compressed run": the paper names its numbers by these roles, so
the manuscript fits any study.

This module imports no third-party package: the Snakefile reads the variant table from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple

#: The uncompressed fine-tuned reranker and the first-stage run: the two baselines.
FULL = "full"
BM25 = "bm25"
INT8_SUFFIX = "-int8"
#: Precision rows of the efficiency stage: ``<model>-<precision>`` scores that model in exactly
#: this arithmetic (a plain ``<model>`` run scores in the config's ``precision``, which ``auto``
#: resolves per machine). int8 is torchao's (slimrank.quantize), in fp32 activations.
PRECISION_SUFFIXES: dict[str, str] = {"fp32": "-fp32", "bf16": "-bf16", "int8": INT8_SUFFIX}
#: The peer row: sentence-transformers ``CrossEncoder.predict`` on a model (timed, not reranked).
PEER_SUFFIX = "-st"
#: A distilled student is named after its undistilled partner with this suffix.
KD_SUFFIX = "-kd"
#: Pruning schedules, in the order tables, figures and text show them.
SCHEDULES: tuple[str, ...] = ("oneshot", "gmp", "lottery")
#: The structured pruning family (its variants' ``family`` and its runs' ``kind``).
STRUCTURED = "structured"
#: A compression method (layer dropping or a schedule) as running text and legends name it.
METHOD_NAMES: dict[str, str] = {
    "drop": "layer dropping",
    "oneshot": "one-shot pruning",
    "gmp": "gradual magnitude pruning",
    "lottery": "lottery-ticket rewinding",
    STRUCTURED: "structured FFN pruning",
}


# ----------------------------------------------------------------------------- table columns
class ParamsColumns(NamedTuple):
    """Columns of ``results/params/params.tsv`` in the order :func:`slimrank.params.params_table`
    writes them: one row per variant; counts are parameters, sparsities fractions in [0, 1]."""

    name: str = "name"  # the variant
    family: str = "family"
    schedule: str = "schedule"
    layers: str = "layers"
    intermediate_size: str = "intermediate_size"  # FFN neurons per layer (narrower: structured)
    match_layers: str = "match_layers"
    target_sparsity: str = "target_sparsity"
    total: str = "total"
    nonzero: str = "nonzero"
    prunable: str = "prunable"
    prunable_nonzero: str = "prunable_nonzero"
    encoder_sparsity: str = "encoder_sparsity"
    size_bytes: str = "size_bytes"
    matched_total: str = "matched_total"
    match_error: str = "match_error"


class EfficiencyColumns(NamedTuple):
    """Columns of ``results/efficiency/efficiency.tsv`` that are read back (one row per model,
    int8 versions included); the first five lead the table, the benchmark record's other keys
    (:data:`slimrank.efficiency.BENCHMARK_KEYS`) follow."""

    model: str = "model"
    int8: str = "int8"
    throughput_pairs_per_s: str = "throughput_pairs_per_s"
    pairs_per_s_ratio: str = "pairs_per_s_ratio"  # throughput over the fp32 full model's, same job
    latency_ms: str = "latency_ms"
    precision: str = "precision"
    device: str = "device"
    # the paper split's top-10 agreement with the row's model in fp32 (or its plain run)
    top10_overlap: str = "top10_overlap"
    overlap_reference: str = "overlap_reference"
    flops_per_pair: str = "flops_per_pair"  # dense FLOPs of one pair at the pairs' mean length
    # the peer row: a bf16 matmul's speed over float32's on this CPU, measured in its job (the
    # most bf16 arithmetic can gain over the fp32 peer; empty on CUDA)
    bf16_matmul_speedup: str = "bf16_matmul_speedup"
    # the peer row: the project's scoring of the same model in the plain runs' precision over
    # the peer's throughput, timed in the peer's job
    scoring_over_peer: str = "scoring_over_peer"


class MetricsColumns(NamedTuple):
    """Columns of ``results/metrics/metrics.tsv``: one row per split, run and metric."""

    split: str = "split"
    run: str = "run"
    seed: str = "seed"  # the training seed of a model's run; empty for BM25 and reference runs
    metric: str = "metric"
    value: str = "value"
    queries: str = "queries"


class SignificanceColumns(NamedTuple):
    """Columns of ``results/metrics/significance.tsv``: one paired test per row, on the
    per-query scores averaged over the run's (and the baseline's) seeds; ``seeds_agree`` of the
    run's ``seeds`` give the seed-averaged difference to the baseline its sign."""

    split: str = "split"
    run: str = "run"
    baseline: str = "baseline"
    metric: str = "metric"
    p_value: str = "p_value"
    p_holm: str = "p_holm"
    seeds_agree: str = "seeds_agree"
    seeds: str = "seeds"


class DeploymentColumns(NamedTuple):
    """Columns of the paper's deployment table (:func:`slimrank.tables.deployment_table`): one
    row per timed model x precision, fastest first, set against the deployment target."""

    run: str = "run"
    precision: str = "precision"  # the arithmetic it was timed and scored in
    speedup: str = "speedup"  # throughput over the fp32 full model's, timed in the same job
    flops_ratio: str = "flops_ratio"  # the full model's FLOPs per pair over the row's
    value: str = "value"  # the table's metric on the paper split, the timed seed's run
    loss_pct: str = "loss_pct"  # 100 x (fp32 full - value) / fp32 full
    top10_overlap: str = "top10_overlap"  # with the row's model in fp32 (or its plain run)
    meets_target: str = "meets_target"  # speedup >= target and loss_pct <= the target's


PARAMS = ParamsColumns()
EFFICIENCY = EfficiencyColumns()
DEPLOYMENT = DeploymentColumns()
METRICS = MetricsColumns()
SIGNIFICANCE = SignificanceColumns()
#: The columns efficiency.tsv starts with.
EFFICIENCY_FIRST: tuple[str, ...] = tuple(EFFICIENCY)[:5]


# ----------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class Variant:
    name: str
    family: str  # full | drop | prune | structured
    schedule: str  # finetune | oneshot | gmp | lottery (structured: oneshot)
    layers: int | None  # layers kept by a drop variant; None: every layer of the base model
    # prune, structured: matched to the parameter count of drop-L{match_layers}
    match_layers: int | None
    sparsity: float | None  # prune sweep: fraction of encoder Linear weights zeroed
    seed: int
    # trained on the fine-tuned full model's scores too (``distillation`` in the config); the
    # same init, architecture and size as its partner (the name without ``-kd``)
    distill: bool = False
    # structured sweep: fraction of each layer's FFN neurons kept
    ffn_keep: float | None = None

    @property
    def partner(self) -> str:
        """The undistilled variant with the same init and size (the variant itself if not
        distilled)."""
        return self.name.removesuffix(KD_SUFFIX) if self.distill else self.name

    @property
    def starts_from_full(self) -> bool:
        """Made from the fine-tuned full model (its mask, at least) rather than the base."""
        return self.schedule in ("oneshot", "lottery")

    def row(self) -> dict:
        """The fields as a dict; ``distill`` and ``ffn_keep`` only when set, so that the row of
        a variant of another family (a job parameter) is what it was before they existed."""
        row = asdict(self)
        if not self.distill:
            del row["distill"]
        if self.ffn_keep is None:
            del row["ffn_keep"]
        return row


def drop_name(layers: int) -> str:
    return f"drop-L{layers}"


def matched_name(schedule: str, layers: int) -> str:
    return f"{schedule}-match-L{layers}"


def sweep_name(schedule: str, sparsity: float) -> str:
    return f"{schedule}-s{round(sparsity * 100):d}"


def structured_match_name(layers: int) -> str:
    return matched_name(STRUCTURED, layers)


def structured_width_name(ffn_keep: float) -> str:
    """``structured-w{pct}``: ``pct`` percent of the FFN neurons kept (0.1 -> w10, 0.125 ->
    w12.5)."""
    return f"{STRUCTURED}-w{round(ffn_keep * 100, 4):g}"


def precision_name(model: str, precision: str) -> str:
    """The run of ``model`` scored in ``precision`` (a key of :data:`PRECISION_SUFFIXES`)."""
    if precision not in PRECISION_SUFFIXES:
        raise ValueError(f"precision {precision!r} is not one of {sorted(PRECISION_SUFFIXES)}")
    return model + PRECISION_SUFFIXES[precision]


def int8_name(model: str) -> str:
    return precision_name(model, "int8")


def peer_name(model: str) -> str:
    return model + PEER_SUFFIX


def precision_runs(config: Mapping) -> list[str]:
    """The precision rows the config asks for (``efficiency.fp32``, ``bf16``, ``int8``: variant
    lists), in that order: each is reranked, evaluated and timed like a variant."""
    efficiency = config.get("efficiency", {})
    return [
        precision_name(model, precision)
        for precision in PRECISION_SUFFIXES
        for model in efficiency.get(precision, [])
    ]


def split_precision(run: str) -> tuple[str, str | None]:
    """``(model, precision)`` of a run name: ``drop-L2-int8`` -> ``(drop-L2, int8)``; a plain
    model (scored in the config's precision) -> ``(model, None)``."""
    for precision, suffix in PRECISION_SUFFIXES.items():
        if run.endswith(suffix):
            return run.removesuffix(suffix), precision
    return run, None


def kd_name(partner: str) -> str:
    return partner + KD_SUFFIX


def variant_table(config: Mapping) -> list[Variant]:
    """Every variant the config asks for, ``full`` first; names are unique."""
    compression = config.get("compression", {})
    seed = config.get("seed", 0)
    variants = [Variant(FULL, "full", "finetune", None, None, None, seed)]
    for layers in compression.get("layers", []):
        variants.append(Variant(drop_name(layers), "drop", "finetune", layers, None, None, seed))
    for schedule, layer_counts in compression.get("matched", {}).items():
        for layers in layer_counts:
            name = matched_name(schedule, layers)
            variants.append(Variant(name, "prune", schedule, None, layers, None, seed))
    sweep = compression.get("sweep", {})
    for schedule in sweep.get("schedules", []):
        for sparsity in sweep.get("sparsities", []):
            name = sweep_name(schedule, sparsity)
            variants.append(Variant(name, "prune", schedule, None, None, sparsity, seed))
    structured = compression.get("structured", {})
    for layers in structured.get("matched", []):
        name = structured_match_name(layers)
        variants.append(Variant(name, STRUCTURED, "oneshot", None, layers, None, seed))
    for keep in structured.get("ffn_keep", []):
        name = structured_width_name(keep)
        variants.append(
            Variant(name, STRUCTURED, "oneshot", None, None, None, seed, ffn_keep=float(keep))
        )
    by_name = {v.name: v for v in variants}
    for partner in config.get("distillation", {}).get("students", []):
        if partner not in by_name or partner == FULL:
            raise ValueError(
                f"distillation.students: {partner!r} is not a compressed variant of the config"
            )
        variants.append(replace(by_name[partner], name=kd_name(partner), distill=True))
    names = [v.name for v in variants]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"compression: variants defined twice: {duplicated}")
    return variants


def check_variants(config: Mapping) -> None:
    """Matched variants need their layer-drop partner's layer count in ``compression.layers``
    (whether structured pruning can reach that count is known once the full model exists:
    :func:`slimrank.structured.matched_neurons` says which counts it can), and the recovery
    overrides (:func:`recovery_overrides`) may only name keys of ``training``: the schema
    leaves them open, and a misspelt key would otherwise fail only in the recovery job, after
    the full model has trained."""
    compression = config.get("compression", {})
    training = config.get("training", {})
    for key, overrides in (
        ("compression.recovery", compression.get("recovery", {})),
        ("compression.structured.recovery", compression.get("structured", {}).get("recovery", {})),
    ):
        unknown = sorted(set(overrides) - set(training)) if training else []
        if unknown:
            raise ValueError(f"{key}: {unknown} are not keys of training ({sorted(training)})")
    layers = set(compression.get("layers", []))
    missing = sorted(set(compression.get("structured", {}).get("matched", [])) - layers)
    if missing:
        raise ValueError(
            f"compression.structured.matched: {missing} are not in compression.layers, so "
            "there is no layer-drop model to match"
        )
    for schedule, layer_counts in compression.get("matched", {}).items():
        if schedule not in SCHEDULES:
            raise ValueError(f"compression.matched.{schedule}: unknown schedule ({SCHEDULES})")
        missing = sorted(set(layer_counts) - layers)
        if missing:
            raise ValueError(
                f"compression.matched.{schedule}: {missing} are not in compression.layers, "
                "so there is no layer-drop model to match"
            )


# ----------------------------------------------------------------------------- seeds
# The top-level ``seed`` is the data seed (split samples, training groups): the training seeds
# change the data order and the head's initialisation, never the data.


def recovery_overrides(config: Mapping, variant: Variant) -> dict:
    """What ``variant``'s fine-tuning lays over ``training``: nothing for models trained
    from scratch of the schedule (full, layer drop, gmp, lottery), ``compression.recovery``
    for the recovery of one-shot pruned and structured models, and for structured models
    ``compression.structured.recovery`` on top of that."""
    if variant.schedule != "oneshot":
        return {}
    compression = config.get("compression", {})
    overrides = dict(compression.get("recovery", {}))
    if variant.family == STRUCTURED:
        overrides.update(compression.get("structured", {}).get("recovery", {}))
    return overrides


#: The training settings that decide which groups a run draws
#: (:meth:`slimrank.training.TrainSettings.groups_drawn`); nothing else changes the pairs the
#: teacher must score.
DRAW_FIELDS = ("batch_size", "grad_accum_steps", "max_steps", "epochs", "seed")


def distinct_draws(student_settings: Iterable[Mapping]) -> list[dict]:
    """The distinct draws of the distilled students' training settings, sorted: the teacher's
    job parameter, so that a student with another learning rate or loss, but the same draw,
    does not rescore the teacher and so retrain every other student of the seed."""
    draws = {tuple((f, s[f]) for f in DRAW_FIELDS) for s in student_settings}
    return [dict(d) for d in sorted(draws, key=repr)]


def training_seeds(config: Mapping) -> list[int]:
    """The training seeds, ``seeds[0]`` first; without ``seeds``, the one seed of old
    (``training.seed``, or the top-level ``seed`` where that is null)."""
    if config.get("seeds"):
        return list(config["seeds"])
    training_seed = config.get("training", {}).get("seed")
    return [config.get("seed", 0) if training_seed is None else training_seed]


def seeded_variants(config: Mapping) -> list[str]:
    """Variants trained with every seed (``seeded_variants``: ``all`` or a list of names)."""
    names = [v.name for v in variant_table(config)]
    chosen = config.get("seeded_variants", [])
    return names if chosen == "all" else [n for n in names if n in set(chosen)]


def variant_seeds(config: Mapping, variant: str) -> list[int]:
    """The seeds ``variant`` is trained with: every seed if it is seeded, else ``seeds[0]``."""
    seeds = training_seeds(config)
    return seeds if variant in seeded_variants(config) else seeds[:1]


def model_seeds(config: Mapping, model: str) -> list[int]:
    """The seeds of a reranking model (a precision row is ``seeds[0]``'s model)."""
    if split_precision(model)[1] is not None:
        return training_seeds(config)[:1]
    return variant_seeds(config, model)


def seed_dir(seed: int) -> str:
    """The path piece of one training seed: ``results/models/seed{seed}/{variant}`` etc."""
    return f"seed{seed}"


def check_seeds(config: Mapping) -> None:
    """Seeds unique; seeded variants exist; a seeded student made from the full model needs
    the full model seeded too (each student is compressed from its own seed's full model)."""
    seeds = training_seeds(config)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: {seeds} lists a seed twice")
    chosen = config.get("seeded_variants", [])
    if chosen == "all":
        return
    variants = {v.name: v for v in variant_table(config)}
    unknown = [n for n in chosen if n not in variants]
    if unknown:
        raise ValueError(f"seeded_variants: {unknown} are not variants ({sorted(variants)})")
    if FULL not in chosen:
        needs_full = [n for n in chosen if variants[n].starts_from_full]
        if needs_full:
            raise ValueError(
                f"seeded_variants: {needs_full} start from the full model, so {FULL!r} must be "
                "seeded too (each seed's student is compressed from that seed's full model)"
            )


# ----------------------------------------------------------------------------- run names
@dataclass(frozen=True)
class RunInfo:
    """What a run name says about the run.

    ``kind`` is ``first-stage``, ``full``, ``drop``, ``prune``, ``structured`` or ``other``.
    ``matched_layers`` is L for ``drop-L{L}``, ``{schedule}-match-L{L}`` and
    ``structured-match-L{L}`` (the pruned model keeps all its layers; L names the layer-drop
    model whose parameter count it matches). ``sweep_pct`` is the target sparsity of a
    ``{schedule}-s{pct}`` sweep run, ``ffn_pct`` the FFN neurons kept (percent) by a
    ``structured-w{pct}`` run; structured runs have schedule ``oneshot``. ``base`` is the name
    without its precision suffix (``-fp32``, ``-bf16``, ``-int8``: ``precision``; None for a
    plain run, scored in the config's precision) or peer suffix (``-st``: ``peer``).
    ``distill``: a distilled student (``-kd``); its other fields are its partner's.
    """

    run: str
    base: str
    kind: str
    schedule: str = "none"
    matched_layers: int | None = None
    sweep_pct: float | None = None
    int8: bool = False
    distill: bool = False
    ffn_pct: float | None = None
    precision: str | None = None
    peer: bool = False

    @property
    def is_precision_row(self) -> bool:
        """A precision or peer version of a model (not one of the study's variants)."""
        return self.precision is not None or self.peer

    @property
    def method(self) -> str | None:
        """``drop``, the schedule of a pruned run or ``structured`` (a key of
        :data:`METHOD_NAMES`)."""
        if self.kind in ("drop", STRUCTURED):
            return self.kind
        return self.schedule if self.kind == "prune" else None


def parse_run(run: str) -> RunInfo:
    """Classify a run by its name (the inverse of the name builders above)."""
    peer = run.endswith(PEER_SUFFIX) and not run.startswith(BM25)
    base, precision = (run.removesuffix(PEER_SUFFIX), None) if peer else split_precision(run)
    if base.startswith(BM25) and base != run:
        base, precision = run, None  # first-stage runs carry no precision
    info = _parse_base(run, base, precision == "int8")
    return replace(info, precision=precision, peer=peer)


def _parse_base(run: str, base: str, int8: bool) -> RunInfo:
    """:func:`parse_run` of ``base`` (the run name less its precision or peer suffix)."""
    if base.startswith(BM25):
        return RunInfo(run, base, "first-stage", int8=int8)
    if base == FULL:
        return RunInfo(run, base, "full", int8=int8)
    if base.endswith(KD_SUFFIX):
        partner = parse_run(base.removesuffix(KD_SUFFIX))
        if partner.kind in ("drop", "prune", STRUCTURED):
            return replace(partner, run=run, base=base, int8=int8, distill=True)
    if m := re.fullmatch(r"drop-L(\d+)", base):
        return RunInfo(run, base, "drop", matched_layers=int(m[1]), int8=int8)
    if m := re.fullmatch(STRUCTURED + r"-match-L(\d+)", base):
        return RunInfo(run, base, STRUCTURED, "oneshot", matched_layers=int(m[1]), int8=int8)
    if m := re.fullmatch(STRUCTURED + r"-w(\d+(?:\.\d+)?)", base):
        return RunInfo(run, base, STRUCTURED, "oneshot", ffn_pct=float(m[1]), int8=int8)
    if m := re.fullmatch(r"([a-z0-9]+)-match-L(\d+)", base):
        return RunInfo(run, base, "prune", m[1], matched_layers=int(m[2]), int8=int8)
    if m := re.fullmatch(r"([a-z0-9]+)-s(\d+(?:\.\d+)?)", base):
        return RunInfo(run, base, "prune", m[1], sweep_pct=float(m[2]), int8=int8)
    return RunInfo(run, base, "other", int8=int8)


def is_compressed(run: str) -> bool:
    """A variant made smaller than the full model: layer drop, pruned (unstructured or
    structured), or an int8 version."""
    info = parse_run(run)
    return info.kind in ("drop", "prune", STRUCTURED) or (info.kind == "full" and info.int8)


def family_of(run: str) -> str:
    """``full``, ``drop``, ``prune``, ``structured`` (int8 versions share their variant's), or
    ``other``."""
    kind = parse_run(run).kind
    return kind if kind in ("full", "drop", "prune", STRUCTURED) else "other"


# ----------------------------------------------------------------------------- roles
@dataclass(frozen=True)
class MatchedSize:
    """One size of the matched comparison: the layer-drop model, the pruned models (by
    schedule, in :data:`SCHEDULES` order) matched to its parameter count and the structured
    model matched to it (None where there is none: a family of its own, not a schedule)."""

    layers: int
    drop: str
    pruned: dict[str, str] = field(default_factory=dict)
    structured: str | None = None


def _schedule_order(schedules: Iterable[str]) -> list[str]:
    """Known schedules in :data:`SCHEDULES` order, then unknown ones by name."""
    present = set(schedules)
    return [s for s in SCHEDULES if s in present] + sorted(present - set(SCHEDULES))


def matched_sizes(runs: Iterable[str]) -> list[MatchedSize]:
    """The sizes of the matched comparison among ``runs``, most layers first.

    A size exists where ``drop-L{L}`` is a run; its pruned partners are the
    ``{schedule}-match-L{L}`` runs present, its structured partner ``structured-match-L{L}``
    where present (int8 versions and distilled students are not part of the comparison:
    :func:`distilled_partners` pairs the students with these).
    """
    runs = set(runs)
    infos = [
        parse_run(r) for r in runs if not (parse_run(r).is_precision_row or parse_run(r).distill)
    ]
    levels = sorted({i.matched_layers for i in infos if i.kind == "drop"}, reverse=True)
    schedules = _schedule_order(
        i.schedule for i in infos if i.kind == "prune" and i.matched_layers is not None
    )
    return [
        MatchedSize(
            L,
            drop_name(L),
            {s: matched_name(s, L) for s in schedules if matched_name(s, L) in runs},
            structured_match_name(L) if structured_match_name(L) in runs else None,
        )
        for L in levels
    ]


def focus_size(sizes: Iterable[MatchedSize]) -> MatchedSize | None:
    """The size where the schedules are compared: the one with the most pruned partners
    (ties: the fewest layers, the strongest compression); None without sizes."""
    sizes = list(sizes)
    if not sizes:
        return None
    return max(sizes, key=lambda s: (len(s.pruned), -s.layers))


def matched_schedules(sizes: Iterable[MatchedSize]) -> list[str]:
    """Schedules with a pruned model at one size at least, in :data:`SCHEDULES` order."""
    return _schedule_order(s for size in sizes for s in size.pruned)


def sweep_runs(runs: Iterable[str]) -> dict[str, list[str]]:
    """Per schedule (in :data:`SCHEDULES` order), its sweep runs by target sparsity ascending."""
    infos = [parse_run(r) for r in runs]
    sweep = [i for i in infos if i.sweep_pct is not None and not (i.is_precision_row or i.distill)]
    return {
        s: [i.run for i in sorted(sweep, key=lambda i: i.sweep_pct) if i.schedule == s]
        for s in _schedule_order(i.schedule for i in sweep)
    }


def distilled_partners(runs: Iterable[str]) -> dict[str, str]:
    """Each undistilled run among ``runs`` that has a distilled student, mapped to it."""
    runs = set(runs)
    return {
        info.base.removesuffix(KD_SUFFIX): info.run
        for info in map(parse_run, sorted(runs))
        if info.distill and info.base.removesuffix(KD_SUFFIX) in runs
    }


def best_compressed(values: Mapping[str, float], decimals: int = 3) -> str | None:
    """The compressed run (:func:`is_compressed`) with the highest value rounded to
    ``decimals`` (what the table shows); ties go to the first name. None without one."""
    candidates = [
        (-round(float(v), decimals), run)
        for run, v in values.items()
        if is_compressed(run) and v == v  # NaN is not a value
    ]
    return min(candidates)[1] if candidates else None
