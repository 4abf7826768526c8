"""The personalisation study on a small scenario: every variant scored on the same sites."""

import json

import pytest
from smartfed.bench.personalization import Study, run_study
from smartfed.cli import main


def test_the_study_scores_every_variant_on_every_site_against_local_only():
    result = run_study(Study(sites=4, organizations=2, rounds=2, lambdas=(1e-4,), scale=0.3))

    assert list(result["variants"]) == ["global", "finetune", "ditto 0.0001", "clusters", "local-only"]
    sites = set(result["variants"]["local-only"]["per_site"])
    assert len(sites) == 4
    for name, variant in result["variants"].items():
        assert set(variant["per_site"]) == sites
        if name != "local-only":
            comparison = variant["minus_local_only"]
            assert comparison["difference"] == pytest.approx(variant["f1"] - result["variants"]["local-only"]["f1"])
            assert comparison["ci95"] is None or comparison["ci95"][0] <= comparison["difference"] <= comparison["ci95"][1]


def test_network_flows_have_no_building_type_so_the_study_skips_the_clusters():
    result = run_study(Study(task="network", sites=3, organizations=1, rounds=1, lambdas=(1e-3,), scale=0.2))
    assert "clusters" not in result["variants"]


def test_a_lambda_that_is_not_positive_is_refused_with_the_rule(tmp_path, capsys):
    code = main(["bench", "personalization", "--lambdas", "1e-4", "0", "--output", str(tmp_path)])
    assert code == 3
    assert "--lambdas holds [0.0]; every Ditto lambda must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "personalization.json").exists()


def test_the_command_writes_the_figures_it_prints(tmp_path, capsys):
    code = main(["bench", "personalization", "--sites", "3", "--rounds", "1", "--lambdas", "1e-3", "--output", str(tmp_path)])
    assert code == 0
    written = json.loads((tmp_path / "personalization.json").read_text())
    assert set(written["variants"]) >= {"global", "finetune", "ditto 0.001", "local-only"}
    assert "personalisation study: sensor, 3 sites, seed 0" in capsys.readouterr().err
