"""Write the collection as pid<TAB>text, read through ir_datasets."""

from slimrank.data import load_docs, register_datasets
from slimrank.logs import setup
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
register_datasets(snakemake.params.local_datasets)
count = 0
with atomic_output(snakemake.output[0]) as out:
    # Duplicate ids and a count other than the config's expected_docs stop the job before
    # the file is renamed into place.
    docs = load_docs(
        snakemake.params.collection,
        expected=snakemake.params.expected_docs,
        expected_key=snakemake.params.expected_key,
    )
    for doc_id, text in docs:
        out.write(f"{doc_id}\t{text}\n")
        count += 1
log.info("collection %s: %d documents", snakemake.params.collection, count)
