import json

import numpy as np
import pytest

from cellscape import init_params, mlp
from cellscape.certify import certify
from cellscape.cli import main
from cellscape.data import load_data
from cellscape.params_io import load_params, save_params
from cellscape.training import gradient_descent


def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_help_on_every_command(capsys):
    for args in (["--help"], ["survey", "--help"], ["cell", "--help"], ["certify", "--help"], ["datasets", "--help"]):
        code, out, _ = run(args, capsys)
        assert code == 0 and "Usage" in out


def test_survey_writes_json(tmp_path, capsys):
    path = tmp_path / "survey.json"
    # the three-point set stores its best affine risk as the fraction "1/9"
    code, out, _ = run(["survey", "--data", "builtin:three-point", "--hidden", "2", "--runs", "4", "--steps", "100",
                        "--json", str(path)], capsys)
    assert code == 0 and "Endpoints grouped by risk" in out and "best affine risk 0.111111" in out
    assert "Distinct certified minima" in out and "not converged" in out
    payload = json.loads(path.read_text())
    assert payload["config"]["runs"] == 4 and len(payload["runs"]) == 4
    assert sum(payload["counts"].values()) == 4 and "minima" in payload
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


def test_certify_matches_the_library(tmp_path, capsys):
    data = load_data("builtin:three-point")
    arch = mlp(2, [2], 1)
    trained = gradient_descent(arch, init_params(arch, batch=4, seed=0), data.X, data.y, lr=0.1, steps=2000)
    params_path = save_params(tmp_path / "trained.npz", arch, trained.params)
    out_path = tmp_path / "certify.json"
    code, out, _ = run(["certify", "--params", str(params_path), "--data", "builtin:three-point",
                        "--json", str(out_path)], capsys)
    assert code == 0, out
    expected = certify(*load_params(params_path), data.X, data.y)
    payload = json.loads(out_path.read_text())
    assert payload["command"] == "certify" and payload["loss"] == "squared"
    assert payload["dataset"]["name"] == "three-point" and payload["architecture"] == arch.to_dict()
    assert payload["certificates"] == [json.loads(json.dumps(c.to_dict())) for c in expected]
    for b, cert in enumerate(expected):
        assert f"network {b}: {cert.status.value}" in out
    assert "arithmetic" in out and "certified radius" in out


def test_certify_exact_three_point(tmp_path, capsys):
    # the exact 3-point minimum has a bias 4/3, which a float file cannot hold; the second network (the zero-risk
    # fit, on a cell boundary) is exactly representable
    arch = mlp(2, [2], 1)
    thetas = [[([[0, 0], [0, 0]], [4 / 3, 1]), ([[1, 0]], [-1])], [([[1, -1], [-1, 1]], [0, 0]), ([[-1, -1]], [1])]]
    batch = [tuple(np.array([t[l][i] for t in thetas], dtype=float) for i in range(2)) for l in range(2)]
    params_path = save_params(tmp_path / "three.npz", arch, batch)
    out_path = tmp_path / "exact.json"
    code, out, _ = run(["certify", "--params", str(params_path), "--data", "builtin:three-point", "--exact",
                        "--json", str(out_path)], capsys)
    assert code == 0, out
    payload = json.loads(out_path.read_text())
    assert payload["arithmetic"] == "exact"
    for cert in payload["certificates"]:
        assert cert["risk_exact"] is not None  # the exact risk of the saved float point
        assert cert["arithmetic"] == "exact" or "float" in cert["message"]  # proved, or says it rests on floats
    assert payload["certificates"][1]["risk_exact"] == "0"


def test_certify_unknown_builtin(tmp_path, capsys):
    arch = mlp(2, [2], 1)
    params_path = save_params(tmp_path / "p.npz", arch, init_params(arch, seed=0))
    code, out, err = run(["certify", "--params", str(params_path), "--data", "builtin:nope"], capsys)
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


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
        (["certify", "--params", "nothing.npz", "--data", "builtin:three-point"], "nothing.npz"),
        (["certify", "--params", "nothing.npz"], "--data"),
        (["survey", "--no-such-option"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err + out
    if "Usage" not in err:  # typer's own usage errors come with a usage line
        assert len(err.strip().splitlines()) == 1


def test_nan_data_file(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.array([[0.0], [np.nan]]), y=np.array([0.0, 1.0]))
    code, _, err = run(["survey", "--data", str(path), "--runs", "2", "--steps", "1"], capsys)
    assert code == 2 and "NaN" in err or "finite" in err


def test_construct_list_and_build(tmp_path, capsys):
    code, out, _ = run(["construct", "--list"], capsys)
    assert code == 0 and "linear-region" in out and "dead-point" in out
    path = tmp_path / "construct.json"
    code, out, _ = run(["construct", "linear-region", "--data", "builtin:three-point", "--hidden", "2", "--exact",
                        "--json", str(path)], capsys)
    assert code == 0 and "spurious" in out
    payload = json.loads(path.read_text())
    assert payload["claimed_risk_exact"] == payload["risk_exact"] == "1/9" and payload["spurious"] is True


def test_construct_the_convolutional_grouping(tmp_path, capsys):
    path = tmp_path / "cnn.json"
    code, out, _ = run(["construct", "grouping-cnn", "--kernel-size", "3", "--json", str(path)], capsys)
    assert code == 0 and "conv1d(L=8, k=3" in out and "spurious" in out
    payload = json.loads(path.read_text())
    assert payload["architecture"]["kind"] == "conv1d-avgpool" and payload["spurious"] is True
    assert payload["certificate"]["status"] == "nonstrict_minimum"
    code, _, err = run(["construct", "grouping", "--kernel-size", "3"], capsys)
    assert code == 2 and "kernel_size" in err and "Traceback" not in err


def test_construct_bad_name_exits_2(capsys):
    code, _, err = run(["construct", "nope"], capsys)
    assert code == 2 and "linear-region" in err


def test_atlas_command(tmp_path, capsys):
    path = tmp_path / "atlas.json"
    code, out, _ = run(["atlas", "--data", "builtin:nonaffine", "--width", "1", "--exact", "--json", str(path)],
                       capsys)
    assert code == 0 and "Genuine local minima" in out and "global minimum" in out
    payload = json.loads(path.read_text())
    assert payload["command"] == "atlas" and payload["n_cells"] == 80 and payload["global_certified"] is True
    assert payload["minima"][0]["arithmetic"] == "exact"
    code, _, err = run(["atlas", "--outputs", "free"], capsys)
    assert code == 2 and "outputs" in err and "Traceback" not in err


def test_atlas_command_critical_and_sampled(tmp_path, capsys):
    path = tmp_path / "atlas.json"
    code, out, _ = run(["atlas", "--data", "builtin:teacher", "--n-samples", "5", "--width", "2", "--outputs",
                        "trained", "--critical", "--json", str(path)], capsys)
    assert code == 0 and "Non-differentiable local minima" in out and "saddles:" in out
    payload = json.loads(path.read_text())
    assert payload["critical"] is True and payload["n_boundary_inconclusive"] == 0
    assert payload["n_saddle_cells"] >= 1 and len(payload["saddles"]) >= payload["n_saddle_cells"]
    code, out, _ = run(["atlas", "--data", "builtin:digits", "--width", "1", "--sample-cells", "200", "--json",
                        str(path)], capsys)
    payload = json.loads(path.read_text())
    assert code == 0 and "sampled" in out and payload["sampled"] is True and payload["n_examined"] <= 200
