"""The federation's metric instruments, created once per meter.

Metric attributes stay at low cardinality (federation, site, organization, reason): the round
number belongs on spans, where each round is one trace, not on time series.
"""

from __future__ import annotations

from opentelemetry.metrics import Meter

from smartfed.telemetry._attributes import fl_attributes

# The SDK's default buckets (0 to 10 000) suit none of these: a round takes seconds to minutes,
# a scoring request milliseconds, an update kilobytes to tens of megabytes.
ROUND_DURATION_BUCKETS_S = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
SCORING_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
UPDATE_SIZE_BUCKETS_BYTES = tuple(float(1024 * 4**power) for power in range(10))


class FederationMetrics:
    """Round, site, privacy and scoring measurements; no-ops when the meter is a no-op meter."""

    def __init__(self, meter: Meter) -> None:
        self._round_duration = meter.create_histogram(
            "fl.round.duration",
            unit="s",
            description="Wall time of one round, sample to publish",
            explicit_bucket_boundaries_advisory=ROUND_DURATION_BUCKETS_S,
        )
        self._sites_sampled = meter.create_counter(
            "fl.sites.sampled", unit="{site}", description="Sites asked to train, over all rounds"
        )
        self._sites_reported = meter.create_counter(
            "fl.sites.reported", unit="{site}", description="Sites whose update was aggregated"
        )
        self._sites_dropped = meter.create_counter(
            "fl.sites.dropped", unit="{site}", description="Sites that failed or missed a deadline"
        )
        self._update_size = meter.create_histogram(
            "fl.update.size",
            unit="By",
            description="Encoded size of one site's model update",
            explicit_bucket_boundaries_advisory=UPDATE_SIZE_BUCKETS_BYTES,
        )
        self._training_loss = meter.create_gauge(
            "fl.training.loss", unit="1", description="Last local training loss of a site"
        )
        self._validation_f1 = meter.create_gauge(
            "fl.validation.f1", unit="1", description="F1 of the global model on validation data"
        )
        self._epsilon_spent = meter.create_gauge(
            "fl.privacy.epsilon_spent", unit="1", description="Differential-privacy epsilon spent"
        )
        self._scoring_latency = meter.create_histogram(
            "fl.scoring.latency",
            unit="s",
            description="Latency of one scoring request at the edge",
            explicit_bucket_boundaries_advisory=SCORING_LATENCY_BUCKETS_S,
        )
        self._anomaly_rate = meter.create_gauge(
            "fl.scoring.anomaly_rate", unit="1", description="Share of scored windows flagged"
        )
        self._rejected_uploads = meter.create_counter(
            "fl.uploads.rejected", unit="{update}", description="Updates refused by validation"
        )

    def record_round(
        self,
        *,
        federation: str,
        duration_s: float,
        sites_sampled: int,
        sites_reported: int,
        sites_dropped: int,
    ) -> None:
        attributes = fl_attributes({"federation": federation})
        self._round_duration.record(duration_s, attributes)
        self._sites_sampled.add(sites_sampled, attributes)
        self._sites_reported.add(sites_reported, attributes)
        self._sites_dropped.add(sites_dropped, attributes)

    def record_update(self, *, federation: str, site: str, update_bytes: int) -> None:
        attributes = fl_attributes({"federation": federation, "site": site})
        self._update_size.record(update_bytes, attributes)

    def record_training_loss(self, *, federation: str, site: str, loss: float) -> None:
        self._training_loss.set(loss, fl_attributes({"federation": federation, "site": site}))

    def record_validation_f1(self, *, federation: str, f1: float) -> None:
        self._validation_f1.set(f1, fl_attributes({"federation": federation}))

    def record_epsilon_spent(
        self, *, federation: str, epsilon: float, site: str | None = None
    ) -> None:
        values: dict[str, object] = {"federation": federation}
        if site is not None:
            values["site"] = site
        self._epsilon_spent.set(epsilon, fl_attributes(values))

    def record_scoring(self, *, site: str, latency_s: float, anomaly_rate: float) -> None:
        attributes = fl_attributes({"site": site})
        self._scoring_latency.record(latency_s, attributes)
        self._anomaly_rate.set(anomaly_rate, attributes)

    def record_rejected_upload(self, *, federation: str, site: str, reason: str) -> None:
        self._rejected_uploads.add(
            1, fl_attributes({"federation": federation, "site": site, "reason": reason})
        )
