"""Classification metrics written out in NumPy: accuracy, ROC AUC, confusion matrix."""
import numpy as np


def confusion(labels, predicted, n_classes):
    """Counts (n_classes, n_classes): rows are true classes, columns predicted ones."""
    matrix = np.zeros((n_classes, n_classes), int)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def binary_auc(positive, scores):
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2."""
    positive = np.asarray(positive, bool)
    scores = np.asarray(scores, np.float64)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(labels, probabilities):
    """ROC AUC: of the last class for two classes, else the one-vs-rest macro average."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.shape[1] == 2:
        return binary_auc(labels == 1, probabilities[:, 1])
    aucs = [binary_auc(labels == c, probabilities[:, c]) for c in range(probabilities.shape[1])]
    return float(np.nanmean(aucs))


def summary(labels, probabilities):
    """{"accuracy", "roc_auc", "confusion"} of predictions against labels."""
    predicted = np.argmax(probabilities, axis=1)
    return {"accuracy": float(np.mean(predicted == labels)),
            "roc_auc": roc_auc(labels, probabilities),
            "confusion": confusion(labels, predicted, probabilities.shape[1]).tolist()}
