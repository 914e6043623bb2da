"""Index the collection with bm25s (Lucene-style BM25)."""

from slimrank.bm25 import BM25Index, BM25Settings
from slimrank.logs import setup
from slimrank.trec import read_tsv_pairs

log = setup(snakemake.log[0])
cfg = snakemake.params.bm25
settings = BM25Settings(
    k1=cfg["k1"], b=cfg["b"], stemmer=cfg["stemmer"], stopwords=cfg["stopwords"]
)
docs = read_tsv_pairs(snakemake.input[0])
log.info("indexing %d documents with %s", len(docs), settings)
BM25Index.build(docs, settings, show_progress=True).save(snakemake.output[0])
