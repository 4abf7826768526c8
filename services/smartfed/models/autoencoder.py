"""The windowed autoencoder that both detection tasks share.

A window is the last ``window`` rows of one segment, normalised with the federation's global
mean and standard deviation. Besides the values themselves the network sees each channel's
log standard deviation over the window: a stuck-at sensor reconstructs almost perfectly from its
values alone (a flat line is the easiest signal there is), but its variability is far below what
the autoencoder learned as normal, and that is what makes it stand out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# Floor under a window's standard deviation before the log: normalised noise sits around 0.05,
# so 0.01 keeps a perfectly flat channel finite yet clearly outside what training saw.
_STD_FLOOR = 0.01


@dataclass(frozen=True)
class ModelSpec:
    """The shape of a detector; every site of a federation builds the same one."""

    n_features: int
    window: int
    hidden: int = 64
    bottleneck: int = 16

    @property
    def input_size(self) -> int:
        return self.window * self.n_features + self.n_features


class WindowAutoencoder(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = nn.Sequential(
            nn.Linear(spec.input_size, spec.hidden),
            nn.ReLU(),
            nn.Linear(spec.hidden, spec.bottleneck),
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.Linear(spec.bottleneck, spec.hidden),
            nn.ReLU(),
            nn.Linear(spec.hidden, spec.input_size),
        )

    @staticmethod
    def features(windows: torch.Tensor) -> torch.Tensor:
        """(batch, window, features) -> (batch, window*features + features)."""
        log_std = torch.log(windows.std(dim=1) + _STD_FLOOR)
        return torch.cat([windows.flatten(1), log_std], dim=1)

    def reconstruction_error(self, windows: torch.Tensor) -> torch.Tensor:
        """Per-window mean squared reconstruction error: the training loss."""
        target = self.features(windows)
        return ((self.decoder(self.encoder(target)) - target) ** 2).mean(dim=1)

    def channel_errors(self, windows: torch.Tensor) -> torch.Tensor:
        """(batch, features): each channel's squared error over its window values plus its log std.

        A fault usually hits one sensor; averaged over every input it is diluted by the
        number of channels, per channel it is not.
        """
        target = self.features(windows)
        error = (self.decoder(self.encoder(target)) - target) ** 2
        batch, window, n_features = windows.shape
        values = error[:, : window * n_features].reshape(batch, window, n_features).mean(dim=1)
        return values + error[:, window * n_features :]


def flat_weights(model: nn.Module) -> np.ndarray:
    """All parameters as one float32 vector, in ``named_parameters`` order."""
    return nn.utils.parameters_to_vector(model.parameters()).detach().numpy().astype(np.float32)


def load_flat_weights(model: nn.Module, weights: np.ndarray) -> None:
    expected = sum(p.numel() for p in model.parameters())
    if weights.shape != (expected,):
        raise ValueError(f"weight vector has shape {weights.shape}; this model needs ({expected},)")
    # Copy into the existing parameters: vector_to_parameters would make them views of the
    # caller's array, and training would then overwrite the global weights in place.
    offset = 0
    with torch.no_grad():
        for param in model.parameters():
            size = param.numel()
            param.copy_(torch.tensor(weights[offset : offset + size]).view_as(param))
            offset += size


def tensors_from_flat(model: nn.Module, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Named tensors of a flat vector: the form models are stored and shipped in."""
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for name, param in model.named_parameters():
        size = param.numel()
        tensors[name] = weights[offset : offset + size].reshape(tuple(param.shape)).copy()
        offset += size
    return tensors


def flat_from_tensors(model: nn.Module, tensors: dict[str, np.ndarray]) -> np.ndarray:
    parts = []
    for name, param in model.named_parameters():
        if name not in tensors:
            raise ValueError(f"model tensor '{name}' is missing; got {sorted(tensors)}")
        if tuple(tensors[name].shape) != tuple(param.shape):
            raise ValueError(f"tensor '{name}' has shape {tensors[name].shape}, expected {tuple(param.shape)}")
        parts.append(tensors[name].astype(np.float32).ravel())
    return np.concatenate(parts)
