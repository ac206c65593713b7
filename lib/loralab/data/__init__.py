"""The data a study reads: where texts come from, how they are cleaned, split and subset.

Step 01 (`eda.eda_step`) reads a source and preprocesses it; step 02 (`splits.split_step`)
draws the splits. Nothing here loads a model.
"""

__all__ = [
    "sources",  # a CSV/TSV/JSONL file or the embedded corpus, columns checked
    "pubmed",  # the embedded PubMed corpus: locate, parse, label
    "long_documents",  # the SYNTHETIC long-document variant of that corpus
    "label_terms",  # the words that name each label: counts, masking
    "near_duplicates",  # MinHash candidates and exact Jaccard
    "preprocess",  # normalize, keep the labels, mask, dedupe
    "eda",  # step 01
    "splits",  # step 02: one split or K folds, leakage
    "training_items",  # nested training subsets per size
]
