"""Build one query split from its ir_datasets sources and check it against earlier splits."""

import json

from slimrank.data import (
    build_split,
    check_disjoint,
    load_qrels,
    load_queries,
    register_datasets,
    source_file,
)
from slimrank.logs import setup
from slimrank.trec import atomic_output, read_ids, write_qrels, write_tsv_pairs

log = setup(snakemake.log[0])
name = snakemake.wildcards.split
settings = snakemake.params.settings
register_datasets(snakemake.params.local_datasets)

sources, labels, loaded = [], [], {}
for i, source in enumerate(settings["sources"]):
    key = f"splits.{name}.sources[{i}]"
    sources.append((load_queries(source, key), load_qrels(source, key, loaded)))
    labels.append(f"{source} ({source_file(source, 'qrels')})")
    log.info("%s: %d queries from %s", name, len(sources[-1][0]), source)

earlier = {
    other: read_ids(path)
    for other, path in zip(snakemake.params.earlier, snakemake.input.earlier, strict=True)
}
excluded = {qid for other in settings["exclude"] for qid in earlier[other]}
split = build_split(
    name,
    sources,
    collection_ids=set(read_ids(snakemake.input.collection)),
    require_positive=settings["require_positive"],
    relevance_level=settings["relevance_level"],
    exclude=excluded,
    sample=settings["sample"],
    seed=snakemake.params.seed,
    max_missing_judged=settings["max_missing_judged"],
    labels=labels,
)
split.counts.update(loaded)
check_disjoint(split, earlier)
for what, count in split.counts.items():
    log.info("%s: %s = %d", name, what, count)

write_tsv_pairs(split.queries, snakemake.output.queries)
write_qrels(split.qrels, snakemake.output.qrels)
with atomic_output(snakemake.output.stats) as out:
    json.dump({"split": name, "role": settings["role"], **split.counts}, out, indent=2)
