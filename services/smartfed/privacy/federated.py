"""The privacy of a federated round on both sides of the wire, whatever carries the bytes.

At each site a :class:`SitePrivacy` turns the weight delta into the one payload that leaves
the site: clipped and noised for differential privacy, then either compressed or quantized
and masked for secure aggregation, and always encoded by :mod:`smartfed.wire`. At the
aggregator a :class:`RoundPrivacy` decodes and checks those payloads and turns a round's
updates into the weighted sum the strategy steps from.

Secure aggregation needs three more exchanges per round (keys, shares, unmasking). They go
through a :class:`SiteChannel` the runner supplies, which moves byte strings to and from
named sites: Ray actor calls in the simulation, HTTPS in the cross-site mode. Nothing here
knows which.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import numpy as np

from smartfed.privacy.dp import (
    BudgetExhausted,
    DPConfig,
    PrivacyAccountant,
    central_noise,
    clip_update,
    noise_multiplier_for,
    site_noise,
)
from smartfed.privacy.messages import SecureAggregationError, from_bytes, to_bytes
from smartfed.privacy.secagg import (
    SecAggClient,
    SecAggConfig,
    SecAggRound,
    SecAggServer,
    check_strategy_compatible,
)
from smartfed.strategies.base import Strategy
from smartfed.wire import COMPRESSIONS, ErrorFeedback, WireError, decode_update, encode_update

log = logging.getLogger(__name__)

STAGES = ("advertise", "share_keys", "unmask")


@dataclass(frozen=True)
class PrivacySettings:
    """What a federation asks of every site's update; sent to the sites as a plain dict.

    ``dp_placement`` ``None`` means distributed noise with secure aggregation (no party sees a
    less noisy sum) and central noise without it. ``max_update_mb`` bounds a payload the
    aggregator accepts; a float32 delta of the detectors is about 50 kB.
    """

    federation: str
    compression: str = "none"
    secure_aggregation: bool = False
    dropout: float = 0.0
    dp_epsilon: float | None = None
    dp_delta: float = 1e-5
    dp_clip_norm: float = 1.0
    dp_placement: str | None = None
    dp_noise_multiplier: float | None = None
    secagg_clip_range: float = 8.0
    secagg_neighbours: int | None = None
    secagg_threshold: int | None = None
    max_update_mb: float = 64.0

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"--compression {self.compression!r} is unknown; choose one of {list(COMPRESSIONS)}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout is {self.dropout}; it must be in [0, 1), e.g. 0.3")
        if self.dropout and not self.secure_aggregation:
            raise ValueError(
                "--dropout simulates sites vanishing after their masked upload, which only "
                "secure aggregation has; add --secure-aggregation"
            )
        if self.secure_aggregation and self.compression != "none":
            raise ValueError(
                f"--compression {self.compression} cannot be combined with --secure-aggregation: "
                "masked values are uniform modulo 2^32 and do not compress, and secure aggregation "
                "already quantizes updates; drop one of the two"
            )
        if self.dp:
            DPConfig(self.dp_epsilon, self.dp_delta, self.dp_clip_norm, self.placement)
            if self.placement == "distributed" and not self.secure_aggregation:
                raise ValueError(
                    "distributed DP noise protects a site only when secure aggregation hides its "
                    "share of the noise; add --secure-aggregation or use central placement"
                )

    @property
    def dp(self) -> bool:
        return self.dp_epsilon is not None

    @property
    def placement(self) -> str:
        if self.dp_placement is not None:
            return self.dp_placement
        return "distributed" if self.secure_aggregation else "central"

    @property
    def secagg(self) -> SecAggConfig:
        return SecAggConfig(self.secagg_clip_range, self.secagg_neighbours, self.secagg_threshold)


class SiteChannel(Protocol):
    def call(self, stage: str, requests: dict[str, bytes]) -> dict[str, bytes]:
        """Send each named site its request for ``stage``; the answers of those that replied."""


class SitePrivacy:
    """One site's side: what it does to its update before the update leaves the site."""

    def __init__(self, site: str, settings: PrivacySettings) -> None:
        self.site = site
        self.settings = settings
        self._feedback = ErrorFeedback() if settings.compression in ("topk", "int8") else None
        # Noise drawn from OS entropy: a site's DP noise must not be predictable from a seed.
        self._rng = np.random.default_rng()
        self._secagg: SecAggClient | None = None

    def step(self, stage: str, request: bytes, train_examples: int) -> bytes:
        """Answer one secure aggregation exchange; ``train_examples`` is the FedAvg weight."""
        if stage == "advertise":
            fields = json.loads(request)
            setup = SecAggRound(
                self.settings.federation,
                fields["round"],
                fields["sites"],
                fields["length"],
                self.settings.secagg,
            )
            self._secagg = SecAggClient(self.site, setup)
            return json.dumps(
                {"examples": train_examples, "keys": to_bytes([self._secagg.advertise()]).decode()}
            ).encode()
        if self._secagg is None:
            raise SecureAggregationError(f"{self.site}: {stage!r} before 'advertise' in this round")
        if stage == "share_keys":
            return to_bytes(self._secagg.share_keys(from_bytes(request)))
        if stage == "unmask":
            fields = json.loads(request)
            return to_bytes(self._secagg.unmask(fields["survivors"], fields["dropped"]))
        raise SecureAggregationError(
            f"{self.site}: unknown secure aggregation stage {stage!r}; expected one of "
            f"{list(STAGES)}"
        )

    def protect(self, delta: np.ndarray, round: int, plan: dict) -> bytes:
        """The payload for this round's ``delta``; ``plan`` came with the round."""
        update = delta.astype(np.float32)
        settings = self.settings
        if settings.dp:
            update = clip_update(update, settings.dp_clip_norm)
            if settings.placement == "distributed":
                update = site_noise(
                    update,
                    settings.dp_noise_multiplier,
                    settings.dp_clip_norm,
                    plan["sites"],
                    self._rng,
                )
        header = {"federation": settings.federation, "round": round, "site": self.site}
        if settings.secure_aggregation:
            if self._secagg is None:
                raise SecureAggregationError(
                    f"{self.site}: asked to upload before the round's key exchange"
                )
            masked = self._secagg.masked_input(
                update * np.float32(plan["weight"]), from_bytes(plan["shares"].encode())
            )
            return encode_update({"masked": masked}, header)
        return encode_update(
            {"delta": update}, header, settings.compression, error_feedback=self._feedback
        )


class RoundPrivacy:
    """The aggregator's side: decodes payloads, runs secure aggregation and DP accounting."""

    def __init__(
        self,
        settings: PrivacySettings,
        strategy: Strategy,
        length: int,
        sample_rate: float,
        rounds: int,
        seed: int,
    ) -> None:
        if settings.secure_aggregation:
            check_strategy_compatible(strategy)
        if settings.dp and not strategy.sum_based:
            raise ValueError(
                f"strategy {strategy.name!r} cannot run with --dp-epsilon: client-level DP bounds "
                "each site's effect on the sum of clipped updates, and this strategy does not "
                "aggregate a sum; choose a sum-based strategy (FedAvg, FedProx or the FedOpt "
                "family)"
            )
        self._accountant: PrivacyAccountant | None = None
        if settings.dp:
            multiplier = settings.dp_noise_multiplier
            if multiplier is None:
                multiplier = noise_multiplier_for(
                    settings.dp_epsilon, settings.dp_delta, sample_rate, rounds
                )
            settings = replace(settings, dp_noise_multiplier=multiplier)
            config = DPConfig(
                settings.dp_epsilon, settings.dp_delta, settings.dp_clip_norm, settings.placement
            )
            self._accountant = PrivacyAccountant(config, multiplier, sample_rate)
            log.info(
                "privacy: ε ≤ %s at δ=%s over %d rounds at sample rate %.2f: noise multiplier "
                "%.3f, "
                "clip norm %s, %s noise",
                settings.dp_epsilon,
                settings.dp_delta,
                rounds,
                sample_rate,
                multiplier,
                settings.dp_clip_norm,
                settings.placement,
            )
        self.settings = settings
        self.length = length
        self._seed = seed
        self._noise_rng = np.random.default_rng()
        name, dtype = ("masked", "uint32") if settings.secure_aggregation else ("delta", "float32")
        self._expected = {name: ((length,), dtype)}
        self._round = 0
        self._server: SecAggServer | None = None
        self._plans: dict[str, dict] = {}
        self._refused: dict[str, str] = {}
        self._bytes_up = 0
        self._bytes_protocol = 0
        self.stopped: dict | None = None

    def site_settings(self) -> dict:
        """The settings every site gets before the first round (noise multiplier included)."""
        return asdict(self.settings)

    def may_start_round(self, round: int) -> bool:
        """False, with the reason kept for the report, once a round would exceed the budget."""
        if self._accountant is None:
            return True
        try:
            self._accountant.check_budget()
        except BudgetExhausted as stop:
            log.warning("federation stops before round %d (%s): %s", round, stop.reason, stop)
            self.stopped = {"round": round, "reason": stop.reason, "message": str(stop)}
            return False
        return True

    def open_round(self, round: int, sampled: list[str], channel: SiteChannel) -> dict[str, dict]:
        """Per site, the plan its upload needs; with secure aggregation, after the key exchange."""
        self._round, self._refused, self._bytes_up, self._bytes_protocol = round, {}, 0, 0
        if not self.settings.secure_aggregation:
            self._plans = {site: {"sites": len(sampled)} for site in sampled}
            return self._plans

        setup = SecAggRound(
            self.settings.federation, round, sampled, self.length, self.settings.secagg
        )
        self._server = SecAggServer(setup)
        request = json.dumps(
            {"round": round, "sites": list(setup.sites), "length": self.length}
        ).encode()
        answers = self._exchange(channel, "advertise", {site: request for site in setup.sites})
        adverts, examples = [], {}
        for site, answer in answers.items():
            fields = json.loads(answer)
            adverts += self._own(site, from_bytes(fields["keys"].encode()), "site")
            examples[site] = int(fields["examples"])
        forwarded = self._server.collect_adverts(adverts)

        answers = self._exchange(
            channel, "share_keys", {site: to_bytes(forwarded[site]) for site in forwarded}
        )
        shares = [
            share
            for site, answer in answers.items()
            for share in self._own(site, from_bytes(answer), "sender")
        ]
        routed = self._server.route_shares(shares)

        # FedAvg weights each update by its examples; DP needs equal weights, so that one site
        # moves the sum by at most the clip norm.
        total = sum(examples[site] for site in routed)
        self._plans = {
            site: {
                "sites": len(sampled),
                "weight": 1.0 if self.settings.dp else examples[site] / total,
                "shares": to_bytes(routed[site]).decode(),
            }
            for site in routed
        }
        return self._plans

    def decode(self, result: dict) -> dict | None:
        """A site's fit result with its payload decoded into ``delta``, or None if refused."""
        payload, site = result["delta"], result["site"]
        try:
            tensors, header = decode_update(
                payload,
                self._expected,
                int(self.settings.max_update_mb * 2**20),
                federation=self.settings.federation,
                round=self._round,
            )
            if header.site != site:
                raise WireError(
                    f"payload from {site} says it is from {header.site}; a site can only send as "
                    "itself"
                )
        except WireError as error:
            log.warning("round %d: refused the update of %s: %s", self._round, site, error)
            self._refused[site] = "InvalidUpdate"
            return None
        self._bytes_up += len(payload)
        (update,) = tensors.values()
        return {**result, "delta": update}

    def refused(self) -> dict[str, str]:
        """Sites whose payload this round failed validation, with the reason."""
        return dict(self._refused)

    def summed(self, results: list, channel: SiteChannel) -> tuple[np.ndarray, float] | None:
        """The round's weighted delta sum and total weight, or None for the strategy's own path."""
        if not (self.settings.secure_aggregation or self.settings.dp):
            return None
        if self.settings.secure_aggregation:
            total, weight = self._unmask(results, channel)
        else:
            # The aggregator sees each update here, so it enforces the clip bound itself.
            clipped = [clip_update(result.delta, self.settings.dp_clip_norm) for result in results]
            total, weight = np.sum(clipped, axis=0, dtype=np.float64), float(len(results))
        if self.settings.dp and self.settings.placement == "central":
            total = central_noise(
                total,
                self.settings.dp_noise_multiplier,
                self.settings.dp_clip_norm,
                self._noise_rng,
            )
        if self._accountant is not None:
            self._accountant.step()
        return total.astype(np.float32), weight

    def round_record(self) -> dict:
        """What the round's history row carries about privacy and bytes on the wire."""
        record = {"bytes_up": self._bytes_up, "bytes_protocol": self._bytes_protocol}
        if self._accountant is not None:
            record["epsilon"] = self._accountant.epsilon
        return record

    def report_fields(self, history: list[dict]) -> dict:
        """``epsilon`` (null without DP), bytes per round and the settings that produced them."""
        rounds = max(len(history), 1)
        fields = {
            "epsilon": self._accountant.epsilon if self._accountant is not None else None,
            "bytes_per_round": sum(h["bytes_up"] + h.get("bytes_protocol", 0) for h in history)
            / rounds,
            "update_bytes_per_round": sum(h["bytes_up"] for h in history) / rounds,
            "privacy": {
                "secure_aggregation": self.settings.secure_aggregation,
                "dropout": self.settings.dropout,
                "compression": self.settings.compression,
                "dp": None
                if not self.settings.dp
                else {
                    "epsilon_budget": self.settings.dp_epsilon,
                    "delta": self.settings.dp_delta,
                    "noise_multiplier": self.settings.dp_noise_multiplier,
                    "clip_norm": self.settings.dp_clip_norm,
                    "placement": self.settings.placement,
                },
            },
        }
        if self.stopped is not None:
            fields["stopped"] = self.stopped
        return fields

    def _unmask(self, results: list, channel: SiteChannel) -> tuple[np.ndarray, float]:
        server = self._server
        for result in results:
            server.receive_masked(result.site, result.delta)
        survivors, dropped = server.unmask_request()

        # --dropout: that many of the sites whose masked update arrived vanish before unmasking.
        count = round(self.settings.dropout * len(survivors))
        rng = np.random.default_rng([self._seed, self._round])
        vanished = (
            set(rng.choice(survivors, size=count, replace=False).tolist()) if count else set()
        )
        request = json.dumps({"survivors": survivors, "dropped": dropped}).encode()
        answers = self._exchange(
            channel, "unmask", {site: request for site in survivors if site not in vanished}
        )
        revealed = [
            share
            for site, answer in answers.items()
            for share in self._own(site, from_bytes(answer), "holder")
        ]
        result = server.unmask(revealed)
        log.info(
            "round %d: secure aggregation unmasked the sum of %d sites (%d vanished after upload, "
            "%d never uploaded)",
            self._round,
            len(result.sites),
            len(result.dropped_after_upload),
            len(result.dropped_before_upload),
        )
        weight = math.fsum(self._plans[site]["weight"] for site in result.sites)
        return result.total.astype(np.float64), weight

    def _exchange(
        self, channel: SiteChannel, stage: str, requests: dict[str, bytes]
    ) -> dict[str, bytes]:
        answers = channel.call(stage, requests)
        self._bytes_protocol += sum(map(len, requests.values())) + sum(map(len, answers.values()))
        return answers

    @staticmethod
    def _own(site: str, messages: list, field: str) -> list:
        """Refuse a message a site sends in another site's name."""
        for message in messages:
            if getattr(message, field) != site:
                raise SecureAggregationError(
                    f"{site} sent a message as {getattr(message, field)}; a site can only act as "
                    "itself"
                )
        return messages
