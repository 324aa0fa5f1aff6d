"""Accuracy, ROC AUC and the confusion matrix against hand-computed values."""
import numpy as np
import pytest

from train import classification


def test_auc_of_perfect_random_and_reversed_scores():
    labels = np.array([0, 0, 1, 1])
    assert classification.binary_auc(labels == 1, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert classification.binary_auc(labels == 1, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert classification.binary_auc(labels == 1, [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_auc_counts_pairs():
    # positives 0.6 and 0.3; negatives 0.4 and 0.1: 3 of 4 pairs ranked right
    assert classification.binary_auc([True, True, False, False], [0.6, 0.3, 0.4, 0.1]) == 0.75


def test_summary():
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    report = classification.summary(np.array([0, 1, 1, 1]), probabilities)
    assert report["accuracy"] == 0.75
    assert report["confusion"] == [[1, 0], [1, 2]]
    assert report["roc_auc"] == pytest.approx(1.0)


def test_multiclass_auc_is_one_vs_rest_mean():
    probabilities = np.eye(3)[[0, 1, 2, 0]] * 0.8 + 0.1
    assert classification.roc_auc(np.array([0, 1, 2, 0]), probabilities) == 1.0
