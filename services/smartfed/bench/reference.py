"""The reference workload: the standard shape used to compare federated-learning frameworks.

Each of ``clients`` clients holds ``rows`` x 32 float32 features drawn from its own seeded
generator and trains an MLP autoencoder 32-16-8-16-32 (ReLU, MSE) with Adam (lr 1e-3, batch
64) for ``epochs`` local epochs; the server runs FedAvg over all clients every round.

Two ways to do the same work. ``plain``: one process, one thread, the clients trained one after
another, each with its own module and optimizer. ``federated``: warm Ray worker processes, one
per core, each holding its share of the clients' data from the start and training all of them
at once: the clients' parameters are stacked along a leading axis and one forward pass
(``torch.func.vmap`` over ``functional_call``) serves every client. The stacked loss is the sum
of the clients' losses, so each client's slice of the gradient is its own gradient; Adam acts
element by element, so one Adam over the stacked tensors is each client's own Adam. Both ways
draw the same shuffles from the same seeds, and end at the same model up to float rounding.

``wall_s`` runs from the start of the process (interpreter, imports and Ray included) to the
end of the last round.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import psutil
import ray
import torch
from torch import nn
from torch.func import functional_call, vmap

from smartfed.bench.memory import PeakMemory
from smartfed.models.autoencoder import flat_weights, load_flat_weights
from smartfed.strategies import make_strategy

log = logging.getLogger(__name__)

FEATURES = 32
LAYERS = (32, 16, 8, 16, 32)


@dataclass(frozen=True)
class Workload:
    clients: int
    rows: int = 2000
    epochs: int = 1
    rounds: int = 5
    seed: int = 0
    batch_size: int = 64
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("clients", "rows", "epochs", "rounds", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} is {getattr(self, name)}; it must be at least 1"
                )


def reference_model() -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(LAYERS)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(LAYERS) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def client_data(workload: Workload, client: int) -> np.ndarray:
    return np.random.default_rng([workload.seed, client]).standard_normal(
        (workload.rows, FEATURES), dtype=np.float32
    )


def client_order(workload: Workload, client: int, round_number: int) -> list[torch.Tensor]:
    """The client's shuffle of its rows for each local epoch of ``round_number``."""
    generator = torch.Generator().manual_seed(
        hash((workload.seed, client, round_number)) & (2**63 - 1)
    )
    return [torch.randperm(workload.rows, generator=generator) for _ in range(workload.epochs)]


def train_plain(
    model: nn.Module,
    weights: np.ndarray,
    x: torch.Tensor,
    orders: list[torch.Tensor],
    workload: Workload,
) -> tuple[np.ndarray, float]:
    """One client: its delta and the mean batch loss of its last epoch."""
    load_flat_weights(model, weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=workload.learning_rate)
    for order in orders:
        losses = []
        for start in range(0, workload.rows, workload.batch_size):
            batch = x[order[start : start + workload.batch_size]]
            loss = ((model(batch) - batch) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
    return flat_weights(model) - weights, float(torch.stack(losses).mean())


def train_stacked(
    model: nn.Module,
    weights: np.ndarray,
    data: torch.Tensor,
    orders: list[list[torch.Tensor]],
    workload: Workload,
) -> tuple[np.ndarray, np.ndarray]:
    """All clients of ``data`` (clients, rows, features) at once: deltas and last-epoch losses."""
    clients = data.shape[0]
    stacked = {}
    offset = 0
    for name, param in model.named_parameters():
        # A copy: ``weights`` may be a read-only view into Ray's object store.
        start_values = torch.tensor(weights[offset : offset + param.numel()]).view_as(param)
        stacked[name] = start_values.expand(clients, *param.shape).clone().requires_grad_(True)
        offset += param.numel()
    optimizer = torch.optim.Adam(stacked.values(), lr=workload.learning_rate)
    forward = vmap(lambda params, x: functional_call(model, params, (x,)))
    every_client = torch.arange(clients)[:, None]
    for epoch in range(workload.epochs):
        shuffled = data[every_client, torch.stack([order[epoch] for order in orders])]
        losses = []
        for start in range(0, workload.rows, workload.batch_size):
            batch = shuffled[:, start : start + workload.batch_size]
            per_client = ((forward(stacked, batch) - batch) ** 2).mean(dim=(1, 2))
            optimizer.zero_grad(set_to_none=True)
            per_client.sum().backward()
            optimizer.step()
            losses.append(per_client.detach())
    trained = torch.cat([p.detach().reshape(clients, -1) for p in stacked.values()], dim=1).numpy()
    return trained - weights, torch.stack(losses).mean(dim=0).numpy()


def squared_error(model: nn.Module, weights: np.ndarray, data: torch.Tensor) -> float:
    load_flat_weights(model, weights)
    with torch.inference_mode():
        return float(((model(data) - data) ** 2).sum(dtype=torch.float64))


@ray.remote(num_cpus=1)
class ReferenceWorker:
    """A warm process holding its clients' data; trains them all in one stacked pass per batch."""

    def __init__(self, workload: Workload, clients: list[int]) -> None:
        torch.set_num_threads(1)
        self._workload, self._clients = workload, clients
        self._data = torch.from_numpy(np.stack([client_data(workload, c) for c in clients]))
        self._model = reference_model()

    def fit(self, weights: np.ndarray, round_number: int) -> tuple[np.ndarray, np.ndarray]:
        orders = [client_order(self._workload, c, round_number) for c in self._clients]
        return train_stacked(self._model, weights, self._data, orders, self._workload)

    def squared_error(self, weights: np.ndarray) -> float:
        return squared_error(self._model, weights, self._data)


def run_federated(workload: Workload, workers: int) -> dict:
    # Imported here, not at the top: the workers import this module, and the runner's imports
    # (data generators, telemetry) would only slow their start.
    from smartfed.federation.ray_runner import start_ray

    workers = max(1, min(workers, workload.clients))
    memory = PeakMemory()
    start_ray(num_cpus=workers)
    ray_up_s = process_age_s()
    shares = [list(range(workload.clients))[i::workers] for i in range(workers)]
    actors = [ReferenceWorker.remote(workload, share) for share in shares]
    try:
        torch.manual_seed(workload.seed)
        weights = flat_weights(reference_model())
        # Rounds start once every worker holds its data: that wait is start-up, not round 1.
        ray.get([a.squared_error.remote(weights) for a in actors])
        ready_s = process_age_s()
        memory.sample()
        strategy = make_strategy("fedavg")
        counts = np.full(workload.clients, workload.rows, dtype=np.float32)
        seconds, losses = [], np.zeros(0)
        for round_number in range(1, workload.rounds + 1):
            started = time.perf_counter()
            weights_ref = ray.put(weights)
            parts = ray.get([a.fit.remote(weights_ref, round_number) for a in actors])
            deltas = np.concatenate([d for d, _ in parts])
            losses = np.concatenate([loss for _, loss in parts])
            weights = strategy.aggregate(weights, deltas, counts).astype(np.float32)
            seconds.append(time.perf_counter() - started)
            memory.sample()
        total = sum(ray.get([a.squared_error.remote(weights) for a in actors]))
        wall_s = process_age_s()
    finally:
        for actor in actors:
            ray.kill(actor)
    result = figures(workload, seconds, wall_s, ready_s, memory, total, losses, workers=workers)
    # Of the start-up, what Ray's own processes took before any worker existed.
    return {**result, "ray_up_s": ray_up_s}


def run_plain(workload: Workload) -> dict:
    memory = PeakMemory()
    torch.set_num_threads(1)
    data = [torch.from_numpy(client_data(workload, c)) for c in range(workload.clients)]
    torch.manual_seed(workload.seed)
    model = reference_model()
    weights = flat_weights(model)
    ready_s = process_age_s()
    memory.sample()
    strategy = make_strategy("fedavg")
    counts = np.full(workload.clients, workload.rows, dtype=np.float32)
    seconds, losses = [], []
    for round_number in range(1, workload.rounds + 1):
        started = time.perf_counter()
        results = [
            train_plain(model, weights, x, client_order(workload, c, round_number), workload)
            for c, x in enumerate(data)
        ]
        losses = [loss for _, loss in results]
        weights = strategy.aggregate(weights, np.stack([d for d, _ in results]), counts).astype(
            np.float32
        )
        seconds.append(time.perf_counter() - started)
        memory.sample()
    total = sum(squared_error(model, weights, x) for x in data)
    wall_s = process_age_s()
    return figures(workload, seconds, wall_s, ready_s, memory, total, np.array(losses), workers=1)


def figures(
    workload: Workload,
    seconds: list[float],
    wall_s: float,
    ready_s: float,
    memory: PeakMemory,
    total_squared_error: float,
    losses: np.ndarray,
    workers: int,
) -> dict:
    return {
        "workload": asdict(workload),
        "workers": workers,
        "wall_s": wall_s,
        "ready_s": ready_s,
        "first_round_s": seconds[0],
        "later_round_mean_s": float(np.mean(seconds[1:])) if len(seconds) > 1 else seconds[0],
        "peak_pss_mb": memory.peak_mb,
        "memory_measure": memory.measure,
        # The final global model's MSE over every client's rows: the same number for both ways.
        "final_loss": total_squared_error / (workload.clients * workload.rows * FEATURES),
        "last_round_train_loss": float(np.mean(losses)),
    }


def process_age_s() -> float:
    """Seconds since this process started, interpreter start-up included."""
    return time.time() - psutil.Process().create_time()
