"""The embedded simulation end to end, on a real local Ray cluster."""

from __future__ import annotations

import hashlib
import json

import pytest
from smartfed.cli import main
from smartfed.federation.aggregator import RoundFailed
from smartfed.registry import open_store
from smartfed.simulation.config import SimulationConfig
from smartfed.simulation.run import run_simulation

SETTING_KEYS = {"f1", "precision", "recall", "auroc", "per_site"}


def small(tmp_path, **overrides) -> SimulationConfig:
    options = {"task": "sensor", "sites": 4, "organizations": 2, "rounds": 3, "output": tmp_path / "run", "workers": 2}
    return SimulationConfig(**{**options, **overrides})


def test_simulation_writes_the_report_and_one_model_version_per_round(ray_cluster, tmp_path):
    config = small(tmp_path)
    report = run_simulation(config)

    on_disk = json.loads((config.output / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert {k: on_disk[k] for k in ("task", "data", "sites", "organizations", "rounds", "seed", "strategy")} == {
        "task": "sensor", "data": "simulated", "sites": 4, "organizations": 2, "rounds": 3, "seed": 0,
        "strategy": "fedavg",
    }
    for setting in ("federated", "local_only", "centralized"):
        assert SETTING_KEYS <= set(on_disk[setting])
        assert len(on_disk[setting]["per_site"]) == 4
    # Only a shared model is offered a fine-tuned version; local-only models are the site's own.
    assert not any(row["personalised"] for row in on_disk["local_only"]["per_site"])
    assert set(on_disk["comparison"]) == {"local_only", "centralized"}
    assert on_disk["comparison"]["local_only"]["sites"] == 4
    markdown = (config.output / "report.md").read_text()
    assert "Federated minus local-only: " in markdown
    assert "weather from real TMY3" in markdown
    assert [h["round"] for h in on_disk["history"]] == [1, 2, 3]
    assert all(h["sites_reported"] == 4 and h["bytes_up"] > 0 for h in on_disk["history"])
    for name in ("report.md", "per_site_f1.png", "rounds.png", "roc.png", "gain_by_site_size.png"):
        assert (config.output / name).stat().st_size > 0

    store = open_store(config.store_uri)
    versions = store.versions(config.federation)
    assert [m.round for m in versions] == [1, 2, 3]
    model_bytes, manifest = store.load(config.federation)
    assert manifest.sha256 == hashlib.sha256(model_bytes).hexdigest()


def test_ditto_sites_score_with_the_personal_model_they_trained_each_round(ray_cluster, tmp_path):
    config = small(tmp_path, rounds=2, personalization="ditto", baselines=False)
    report = run_simulation(config)

    assert (report["personalization"], report["ditto_lambda"]) == ("ditto", 1e-4)
    assert [row["personalised"] for row in report["federated"]["per_site"]] == [True] * 4
    assert "`fedavg` with `ditto` personalisation" in (config.output / "report.md").read_text()


def test_round_drops_stragglers_past_the_deadline_and_proceeds_on_quorum(ray_cluster, tmp_path):
    config = small(tmp_path, rounds=2, straggler_fraction=0.25, straggler_delay_s=20.0, round_deadline_s=10.0, baselines=False)
    report = run_simulation(config)
    for entry in report["history"]:
        assert entry["sites_sampled"] == 4
        assert entry["sites_reported"] == 3
        assert len(entry["stragglers"]) == 1


def test_round_below_quorum_fails_with_reason_and_keeps_the_report(ray_cluster, tmp_path):
    config = small(tmp_path, rounds=2, min_sites=4, straggler_fraction=0.25, straggler_delay_s=20.0, round_deadline_s=10.0)
    with pytest.raises(RoundFailed) as failure:
        run_simulation(config)
    assert failure.value.reason == "QuorumNotMet"
    report = json.loads((config.output / "report.json").read_text())
    assert report["status"] == "failed"
    assert report["failure"]["reason"] == "QuorumNotMet"
    assert report["history"] == []


def test_cli_refuses_contradictory_settings_with_the_fix(capsys):
    code = main(["simulate", "--sites", "2", "--organizations", "5"])
    assert code == 3
    err = capsys.readouterr().err
    assert "5 organizations for 2 sites: every organization needs at least one site; lower --organizations or raise --sites" in " ".join(err.split())
    assert "exit 3: a setting or input file is invalid" in err


def write_site_csv(path, rows: int = 1500, timestamps_iso: bool = True) -> None:
    """A day-cycle temperature and CO2 series with a labelled 5 degC spike every 400 rows."""
    import datetime as dt

    import numpy as np

    rng = np.random.default_rng(len(str(path)))
    start = dt.datetime(2024, 3, 1)
    lines = ["timestamp,temp,co2,label"]
    for i in range(rows):
        cycle = np.sin(i / 288 * 2 * np.pi)
        anomalous = i % 400 in range(200, 206)
        temp = 21 + cycle + rng.normal(0, 0.1) + (5 if anomalous else 0)
        co2 = 500 + 100 * cycle + rng.normal(0, 5)
        when = (start + dt.timedelta(minutes=5 * i)).isoformat() if timestamps_iso else str(1_700_000_000 + 300 * i)
        lines.append(f"{when},{temp:.3f},{co2:.1f},{int(anomalous)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_simulation_runs_on_a_folder_of_site_csvs_with_organizations_from_subfolders(ray_cluster, tmp_path):
    for org, site in [("org-a", "hq"), ("org-a", "annex"), ("org-b", "lab")]:
        write_site_csv(tmp_path / "data" / org / f"{site}.csv")
    config = small(tmp_path, data=str(tmp_path / "data"), sites=3, rounds=2, baselines=False)
    report = run_simulation(config)
    assert report["data"] == "csv"
    assert {(row["site"], row["organization"]) for row in report["federated"]["per_site"]} == {
        ("annex", "org-a"), ("hq", "org-a"), ("lab", "org-b"),
    }
    assert [h["sites_reported"] for h in report["history"]] == [3, 3]


def test_a_bad_csv_row_stops_the_run_with_the_file_line_and_fix(ray_cluster, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")  # rich would fold the long temporary path otherwise
    write_site_csv(tmp_path / "data" / "hq.csv")
    write_site_csv(tmp_path / "data" / "lab.csv", timestamps_iso=False)
    code = main(["simulate", "--data", str(tmp_path / "data"), "--sites", "2", "--organizations", "1",
                 "--rounds", "1", "--output", str(tmp_path / "run")])
    assert code == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"error: {tmp_path}/data/lab.csv line 2: column 'timestamp' is '1700000000', expected an ISO 8601 "
        "time such as '2024-03-01T08:05:00'; fix or remove the row"
    ) in err


def test_uci_appliances_runs_every_room_by_default(ray_cluster, tmp_path, capsys):
    code = main(["simulate", "--data", "uci-appliances", "--rounds", "1", "--no-baselines", "--json",
                 "--output", str(tmp_path / "run")])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["data"], report["sites"], report["organizations"]) == ("uci-appliances", 9, 3)
