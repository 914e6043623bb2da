"""Index the collection for Lucene BM25 (Anserini's analyzer and norms, or bm25s)."""

from slimrank.bm25 import BM25Index, BM25Settings
from slimrank.logs import setup
from slimrank.trec import read_tsv_pairs

log = setup(snakemake.log[0])
cfg = snakemake.params.bm25
settings = BM25Settings(**cfg)
docs = read_tsv_pairs(snakemake.input[0])
log.info("indexing %d documents with %s", len(docs), settings)
BM25Index.build(docs, settings, show_progress=True).save(snakemake.output[0])
