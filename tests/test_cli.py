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
