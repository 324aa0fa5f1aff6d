"""Chest X-ray classifiers: phantoms, data, models, training and evaluation."""
