"""Explain a whole dataset: sources (folders, CSVs) -> batches -> one step per batch -> a store.

    python -m cams.dataset --model M --data DIR --out OUT
"""
