"""How a site turns a shared model into alarms: per-channel error scales and a threshold.

Both are the site's own and never leave it. The scale is each channel's median error on the
site's training windows, so a channel the global model reconstructs less well at this building
(an unusual HVAC schedule, a noisier sensor) does not raise alarms by itself; the score of a
window is its worst channel relative to that scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from smartfed.models.autoencoder import WindowAutoencoder
from smartfed.models.threshold import calibrate_threshold

# Enough training windows for a stable median per channel, few enough to stay cheap.
_SCALE_WINDOWS = 5000
_BATCH = 8192


def channel_errors(model: WindowAutoencoder, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.inference_mode():
        parts = [model.channel_errors(torch.from_numpy(x[i : i + _BATCH])).numpy() for i in range(0, len(x), _BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0, model.spec.n_features), np.float32)


@dataclass(frozen=True)
class SiteScorer:
    channel_scale: np.ndarray
    threshold: float

    @classmethod
    def calibrate(
        cls, model: WindowAutoencoder, train_x: np.ndarray, val_x: np.ndarray, val_y: np.ndarray
    ) -> tuple[SiteScorer, np.ndarray]:
        """Scale from training windows, threshold from validation windows; never test windows.

        Returns the scorer and the validation scores it was calibrated on, which a site also
        uses to choose between models.
        """
        if len(train_x) == 0:
            raise ValueError("no training windows to scale channel errors with")
        step = max(1, len(train_x) // _SCALE_WINDOWS)
        scale = (np.median(channel_errors(model, train_x[::step]), axis=0) + 1e-6).astype(np.float32)
        val_scores = _worst_channel(model, val_x, scale)
        return cls(channel_scale=scale, threshold=calibrate_threshold(val_scores, val_y)), val_scores

    def scores(self, model: WindowAutoencoder, x: np.ndarray) -> np.ndarray:
        return _worst_channel(model, x, self.channel_scale)


def _worst_channel(model: WindowAutoencoder, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (channel_errors(model, x) / scale).max(axis=1)
