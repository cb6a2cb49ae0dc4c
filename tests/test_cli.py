import json

import numpy as np
import pytest

from cellscape import init_params, mlp
from cellscape.cli import main
from cellscape.params_io import save_params


def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_help_on_every_command(capsys):
    for args in (["--help"], ["survey", "--help"], ["cell", "--help"], ["datasets", "--help"]):
        code, out, _ = run(args, capsys)
        assert code == 0 and "Usage" in out


def test_survey_writes_json(tmp_path, capsys):
    path = tmp_path / "survey.json"
    code, out, _ = run(["survey", "--runs", "4", "--steps", "100", "--json", str(path)], capsys)
    assert code == 0 and "Endpoints grouped by risk" in out
    payload = json.loads(path.read_text())
    assert payload["config"]["runs"] == 4 and len(payload["runs"]) == 4
    assert payload["config"]["seed"] == 0 and "cellscape_version" in payload


def test_cell_command(tmp_path, capsys):
    arch = mlp(1, [3], 1)
    params_path = save_params(tmp_path / "p.npz", arch, init_params(arch, batch=2, seed=0))
    out_path = tmp_path / "cell.json"
    code, out, _ = run(["cell", "--params", str(params_path), "--json", str(out_path)], capsys)
    assert code == 0, out
    payload = json.loads(out_path.read_text())
    assert len(payload["networks"]) == 2 and payload["networks"][0]["radius"] >= 0


def test_datasets_lists_builtins(capsys):
    code, out, _ = run(["datasets"], capsys)
    assert code == 0 and "builtin:three-point" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["survey", "--runs", "0"], "`runs`"),
        (["survey", "--hidden", "0"], "`hidden`"),
        (["survey", "--hidden", "a,b"], "`--hidden`"),
        (["survey", "--data", "builtin:nope"], "nope"),
        (["survey", "--data", "missing.npz"], "missing.npz"),
        (["survey", "--activation", "pwl:1,0:0,1,0"], "`activation`"),
        (["survey", "--loss", "l2"], "`loss`"),
        (["survey", "--lr", "nan"], "`lr`"),
        (["cell", "--params", "nothing.npz"], "nothing.npz"),
        (["survey", "--no-such-option"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err + out


def test_nan_data_file(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.array([[0.0], [np.nan]]), y=np.array([0.0, 1.0]))
    code, _, err = run(["survey", "--data", str(path), "--runs", "2", "--steps", "1"], capsys)
    assert code == 2 and "NaN" in err or "finite" in err
