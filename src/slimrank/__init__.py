"""SlimRank: layer dropping vs unstructured pruning of BERT cross-encoder rerankers.

The library holds every piece of logic the workflow uses; it knows no paths or wildcards.
"""

__version__ = "0.1.0"
