"""``smartfed bench`` at tiny sizes: every figure kind has its keys, positive and finite.

No timing is asserted: these run on a shared machine. What is asserted besides the shape is
what must hold whatever the load: both sides of a comparison did the same work.
"""

from __future__ import annotations

import json
import math

import pytest
from smartfed.bench.aggregation import STRATEGIES, measure_aggregation
from smartfed.bench.communication import measure_communication
from smartfed.bench.reference import Workload, run_federated, run_plain
from smartfed.bench.rounds import measure_rounds
from smartfed.bench.scoring import measure_scoring
from smartfed.bench.startup import measure_startup
from smartfed.bench.suite import SuiteSettings, run_suite
from smartfed.cli import main

TINY = SuiteSettings(
    aggregation_sites=10,
    aggregation_dim=1_000,
    secagg_sites=3,
    streaming_matrix_mb=1.0,
    repeats=1,
    scoring_readings=50,
    round_sites=(3, 4),
    rounds=2,
    round_scale=0.01,
    pool_per_size=False,
    secure_aggregation_sites=(3,),
    startup=False,
    workers=1,
)


def positive_and_finite(value: float) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


def test_aggregation_reports_every_strategy_secagg_and_the_copy_in_gb_per_s():
    figures = measure_aggregation(
        sites=10, dim=1_000, repeats=1, secagg_sites=3, secagg_dim=500, streaming_mb=1.0
    )

    assert set(figures["gb_per_s"]) == {"numpy_copy", *STRATEGIES, "secagg_unmask"}
    assert all(positive_and_finite(v) for v in figures["gb_per_s"].values())
    assert (
        figures["fedavg_vs_copy_bandwidth"]
        == figures["gb_per_s"]["fedavg"] / figures["gb_per_s"]["numpy_copy"]
    )


def test_communication_reports_bytes_for_each_encoding_and_compressed_ones_are_smaller():
    figures = measure_communication(dim=10_000)

    upload = figures["upload_bytes_per_site_per_round"]
    assert list(upload) == ["fp32", "fp16", "int8", "topk"]
    assert all(positive_and_finite(row["bytes"]) for row in upload.values())
    assert (
        upload["fp32"]["bytes"]
        > upload["fp16"]["bytes"]
        > upload["int8"]["bytes"]
        > upload["topk"]["bytes"]
    )
    assert upload["fp32"]["relative_error"] == 0.0
    assert positive_and_finite(figures["download_bytes_per_site_per_round"])


def test_scoring_reports_latency_percentiles_of_every_reading_after_the_first_window():
    figures = measure_scoring(readings=50)

    assert figures["readings"] == 50
    for name in (
        "model_load_ms",
        "score_p50_ms",
        "score_p99_ms",
        "score_cpu_p99_ms",
        "batch_windows_per_s",
        "forward_windows_per_s",
        "batch_vs_forward",
    ):
        assert positive_and_finite(figures[name]), name
    assert figures["score_p50_ms"] <= figures["score_p99_ms"]


def test_rounds_through_ray_and_the_plain_loop_end_at_the_same_model(ray_cluster):
    figures = measure_rounds(
        [3, 4], rounds=2, scale=0.01, workers=1, pool_per_size=False, secure_aggregation_sites=[4]
    )

    assert set(figures["by_sites"]) == {"3", "4"}
    for row in figures["by_sites"].values():
        assert positive_and_finite(row["overhead_ratio"])
        for side in ("federated", "plain"):
            assert positive_and_finite(row[side]["first_round_s"])
            assert positive_and_finite(row[side]["later_round_mean_s"])
        assert positive_and_finite(row["federated"]["peak_pss_mb"])
        assert row["federated"]["final_weights_norm"] == pytest.approx(
            row["plain"]["final_weights_norm"], rel=1e-5
        )
    assert math.isfinite(figures["round_s_per_site"])
    secure = figures["by_sites"]["4"]["secure_aggregation"]
    assert secure["final_weights_norm"] == pytest.approx(
        figures["by_sites"]["4"]["plain"]["final_weights_norm"], rel=1e-3
    )
    assert positive_and_finite(figures["by_sites"]["4"]["secure_aggregation_vs_federated"])


def test_rounds_refuse_a_single_round_since_round_one_is_warm_up():
    with pytest.raises(ValueError) as error:
        measure_rounds([3], rounds=1, scale=0.01, workers=1)

    assert str(error.value) == "rounds is 1; at least 2 are needed, since round 1 is warm-up"


def test_reference_workload_federated_and_plain_end_at_the_same_loss(ray_cluster):
    workload = Workload(clients=3, rows=200, epochs=1, rounds=2, seed=0)

    federated, plain = run_federated(workload, workers=1), run_plain(workload)

    for figures in (federated, plain):
        for name in (
            "wall_s",
            "ready_s",
            "first_round_s",
            "later_round_mean_s",
            "peak_pss_mb",
            "final_loss",
        ):
            assert positive_and_finite(figures[name]), name
    assert federated["final_loss"] == pytest.approx(plain["final_loss"], rel=1e-5)
    assert federated["last_round_train_loss"] == pytest.approx(
        plain["last_round_train_loss"], rel=1e-5
    )


def test_reference_workload_refuses_zero_clients_naming_the_option():
    with pytest.raises(ValueError) as error:
        Workload(clients=0)

    assert str(error.value) == "--clients is 0; it must be at least 1"


def test_suite_puts_the_headline_figures_at_the_top_level(ray_cluster):
    report = run_suite(TINY)

    for name in ("overhead_ratio", "fedavg_vs_copy_bandwidth", "score_p99_ms"):
        assert positive_and_finite(report[name]), name
    assert "startup" not in report
    json.dumps(report, allow_nan=False)


def test_bench_command_writes_bench_json_and_prints_it_with_json(tmp_path, capsys):
    code = main(
        ["bench", "--quick", "--only", "communication", "--json", "--output", str(tmp_path)]
    )

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "bench.json").read_text())
    assert printed["communication"]["upload_bytes_per_site_per_round"]["fp32"]["bytes"] > 0


@pytest.mark.slow
def test_startup_times_a_fresh_simulate_to_its_first_round():
    figures = measure_startup()

    assert 0 < figures["ready_s"] <= figures["first_round_s"] <= figures["exit_s"]
