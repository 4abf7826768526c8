"""A round's privacy on both sides of the wire, with the sites reached in process."""

from dataclasses import dataclass

import numpy as np
import pytest
from smartfed.privacy.federated import PrivacySettings, RoundPrivacy, SitePrivacy
from smartfed.strategies import make_strategy

LENGTH = 500
EXAMPLES = {"site-001": 100, "site-002": 300, "site-003": 200, "site-004": 400}


@dataclass
class Fit:
    site: str
    delta: np.ndarray


class LocalSites:
    """A SiteChannel whose sites live in this process."""

    def __init__(self, settings: dict) -> None:
        self.sites = {site: SitePrivacy(site, PrivacySettings(**settings)) for site in EXAMPLES}

    def call(self, stage: str, requests: dict[str, bytes]) -> dict[str, bytes]:
        return {
            site: self.sites[site].step(stage, request, EXAMPLES[site])
            for site, request in requests.items()
        }


def deltas() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {site: rng.normal(0, 0.01, LENGTH).astype(np.float32) for site in EXAMPLES}


def one_round(
    settings: PrivacySettings, strategy: str = "fedavg"
) -> tuple[RoundPrivacy, tuple[np.ndarray, float] | None]:
    privacy = RoundPrivacy(
        settings, make_strategy(strategy), LENGTH, sample_rate=1.0, rounds=5, seed=0
    )
    channel = LocalSites(privacy.site_settings())
    plans = privacy.open_round(1, sorted(EXAMPLES), channel)
    fits = []
    for site, delta in deltas().items():
        payload = channel.sites[site].protect(delta, 1, plans[site])
        decoded = privacy.decode({"site": site, "delta": payload})
        fits.append(Fit(site, decoded["delta"]))
    return privacy, privacy.summed(fits, channel)


def test_plain_round_leaves_aggregation_to_the_strategy_after_decoding():
    privacy, summed = one_round(PrivacySettings(federation="f"))

    assert summed is None
    assert privacy.round_record()["bytes_up"] > 4 * LENGTH * 4


def test_secure_round_yields_the_example_weighted_sum_of_the_updates():
    _, (total, weight) = one_round(
        PrivacySettings(federation="f", secure_aggregation=True, dropout=0.25)
    )

    expected = sum(EXAMPLES[site] * delta for site, delta in deltas().items()) / sum(
        EXAMPLES.values()
    )
    assert weight == pytest.approx(1.0)
    np.testing.assert_allclose(total, expected, atol=1e-6)


def test_central_dp_round_noises_the_equally_weighted_sum_of_clipped_updates():
    privacy, (total, weight) = one_round(
        PrivacySettings(federation="f", dp_epsilon=8.0, dp_noise_multiplier=1.0, dp_clip_norm=0.1)
    )

    clipped = np.sum([d * min(1.0, 0.1 / np.linalg.norm(d)) for d in deltas().values()], axis=0)
    assert weight == 4.0
    assert np.std(total - clipped) == pytest.approx(0.1, rel=0.15)
    assert privacy.round_record()["epsilon"] > 0


def test_distributed_dp_noise_rides_inside_the_masked_updates():
    privacy, (total, _) = one_round(
        PrivacySettings(
            federation="f", secure_aggregation=True, dp_epsilon=8.0, dp_noise_multiplier=2.0
        )
    )

    clean = np.sum([d * min(1.0, 1.0 / np.linalg.norm(d)) for d in deltas().values()], axis=0)
    assert privacy.settings.placement == "distributed"
    # Four shares of std 2 / sqrt(4) sum to noise of std 2 on every coordinate.
    assert np.std(total - clean) == pytest.approx(2.0, rel=0.15)


def test_payload_for_another_round_is_refused_and_named():
    privacy = RoundPrivacy(
        PrivacySettings(federation="f"), make_strategy("fedavg"), LENGTH, 1.0, 5, 0
    )
    channel = LocalSites(privacy.site_settings())
    privacy.open_round(2, sorted(EXAMPLES), channel)
    payload = channel.sites["site-001"].protect(np.zeros(LENGTH, np.float32), 1, {"sites": 4})

    assert privacy.decode({"site": "site-001", "delta": payload}) is None
    assert privacy.refused() == {"site-001": "InvalidUpdate"}


def test_payload_sent_in_another_sites_name_is_refused():
    privacy = RoundPrivacy(
        PrivacySettings(federation="f"), make_strategy("fedavg"), LENGTH, 1.0, 5, 0
    )
    channel = LocalSites(privacy.site_settings())
    privacy.open_round(1, sorted(EXAMPLES), channel)
    payload = channel.sites["site-001"].protect(np.zeros(LENGTH, np.float32), 1, {"sites": 4})

    assert privacy.decode({"site": "site-002", "delta": payload}) is None
    assert privacy.refused() == {"site-002": "InvalidUpdate"}


def test_dp_with_a_robust_strategy_is_refused_with_the_reason():
    with pytest.raises(ValueError) as raised:
        RoundPrivacy(
            PrivacySettings(federation="f", dp_epsilon=8.0),
            make_strategy("median"),
            LENGTH,
            1.0,
            5,
            0,
        )

    assert str(raised.value) == (
        "strategy 'median' cannot run with --dp-epsilon: client-level DP bounds each site's effect "
        "on the sum of clipped updates, and this strategy does not aggregate a sum; choose a "
        "sum-based strategy (FedAvg, FedProx or the FedOpt family)"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"compression": "int8", "secure_aggregation": True},
            (
                "--compression int8 cannot be combined with --secure-aggregation: masked values "
                "are uniform modulo 2^32 and do not compress, and secure aggregation already "
                "quantizes updates; drop one of the two"
            ),
        ),
        (
            {"dp_epsilon": 8.0, "dp_placement": "distributed"},
            (
                "distributed DP noise protects a site only when secure aggregation hides its share "
                "of the noise; add --secure-aggregation or use central placement"
            ),
        ),
        (
            {"compression": "zstd"},
            "--compression 'zstd' is unknown; choose one of ['none', 'fp16', 'int8', 'topk']",
        ),
    ],
)
def test_contradictory_privacy_settings_are_refused_with_the_fix(fields, message):
    with pytest.raises(ValueError) as raised:
        PrivacySettings(federation="f", **fields)

    assert str(raised.value) == message
