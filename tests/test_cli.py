import json

import pytest

from revs.cli import main


@pytest.mark.integration
def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["model_type"] == "llama"
    assert facts["d_mlp"] == 1536
    assert facts["layout"]["mlp_out"] == "mlp.down_proj"


def test_bad_model_path_is_a_clean_error(capsys, tmp_path):
    assert main(["info", "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("revs: error:") and "does not exist" in err


def test_testbed_prints_the_report(capsys, monkeypatch):
    import revs.testbed

    report = {"dataset": "ssn", "n_records": 20, "seed": 1, "forget_exact": 1.0,
              "generality_exact": 0.95, "retain_exact": 1.0, "ppl_before": 26.4, "ppl_after": 26.9,
              "ppl_increase": 0.0189, "epochs": 7, "training_seconds": 95.0, "seconds": 120.0,
              "checkpoint": "/cache/x"}
    calls = []
    monkeypatch.setattr(revs.testbed, "testbed_report",
                        lambda dataset, **kw: calls.append((dataset, kw)) or report)
    assert main(["testbed", "--dataset", "ssn", "--subjects", "4", "--seed", "1"]) == 0
    assert calls == [("ssn", {"seed": 1, "n_subjects": 4})]
    out = capsys.readouterr().out
    assert "generality   95.0%" in out and "26.40 -> 26.90 (+1.9%)" in out
    assert main(["testbed", "--dataset", "ssn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report
