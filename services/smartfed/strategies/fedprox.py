"""FedProx: FedAvg on the server, a proximal term on every site.

Tian Li, Anit Kumar Sahu, Manzil Zaheer, Maziar Sanjabi, Ameet Talwalkar, Virginia Smith,
"Federated Optimization in Heterogeneous Networks", MLSys 2020.

Each site minimises its loss plus (mu / 2) * ||w - w_global||^2, which keeps sites with skewed
data from drifting far from the global model during local epochs. The server side is FedAvg,
so this class only adds ``client_config``; the EdgeClient adds the term to its loss. The default
mu = 0.01 is one of the values the paper searches ({0.001, 0.01, 0.1, 1}) and a mild one: it
constrains drift without stalling local progress on the first rounds.
"""

from __future__ import annotations

from smartfed.strategies.fedavg import FedAvg


class FedProx(FedAvg):
    name = "fedprox"

    def __init__(self, *, mu: float = 0.01, server_lr: float = 1.0) -> None:
        super().__init__(server_lr=server_lr)
        if not mu >= 0:
            raise ValueError(f"mu is {mu}; the proximal weight must be >= 0 (0 is plain FedAvg)")
        self.mu = float(mu)

    def client_config(self) -> dict[str, float]:
        return {"proximal_mu": self.mu}
