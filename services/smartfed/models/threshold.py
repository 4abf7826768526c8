"""Per-site thresholds and detection metrics.

The threshold stays at the site (personalisation): the global model is shared, the line between
normal and anomalous is not, because sensor noise and device mixes differ from building to
building. It is calibrated on the site's validation windows only; test windows never choose it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

# With no labelled anomaly in validation, flag the top 1% of validation scores: a site that has
# seen no fault yet still gets a usable alarm rate.
_FALLBACK_QUANTILE = 0.99


def calibrate_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score threshold that maximises F1 on validation windows."""
    if scores.size == 0:
        raise ValueError("no validation windows to calibrate a threshold on")
    if labels.sum() == 0 or labels.sum() == labels.size:
        return float(np.quantile(scores, _FALLBACK_QUANTILE))
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


@dataclass(frozen=True)
class Detection:
    f1: float
    precision: float
    recall: float
    auroc: float

    def as_dict(self) -> dict[str, float]:
        return {"f1": self.f1, "precision": self.precision, "recall": self.recall, "auroc": self.auroc}


def detection_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Detection:
    predicted = scores >= threshold
    positives = labels.astype(bool)
    true_pos = float(np.sum(predicted & positives))
    precision = true_pos / max(float(predicted.sum()), 1.0)
    recall = true_pos / max(float(positives.sum()), 1.0)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    # AUROC is undefined with one class only; 0.5 says "no ranking information" honestly.
    auroc = float(roc_auc_score(labels, scores)) if 0 < positives.sum() < labels.size else 0.5
    return Detection(f1=f1, precision=precision, recall=recall, auroc=auroc)


def roc_points(scores: np.ndarray, labels: np.ndarray, points: int = 50) -> tuple[list[float], list[float]]:
    """A ROC curve resampled at ``points`` false-positive rates, small enough for a report."""
    grid = np.linspace(0.0, 1.0, points)
    if not 0 < labels.sum() < labels.size:
        return grid.tolist(), grid.tolist()
    fpr, tpr, _ = roc_curve(labels, scores)
    return grid.tolist(), np.interp(grid, fpr, tpr).tolist()
