"""exporter train sklearn: the classic example, estimators by name, pipelines, params, formats."""

from __future__ import annotations

import numpy as np
import pytest

import exporter


def test_default_is_the_classic_linear_regression(tmp_path, cli):
    result = cli("train", "sklearn", "-o", tmp_path / "m.skops")
    assert result.exit_code == 0, result
    ws = exporter.load(tmp_path / "m.skops")
    assert ws.info.model_name == "LinearRegression"
    assert np.allclose(ws["coef_"].read(), [1.0, 2.0], atol=0.3)
    assert abs(float(ws["intercept_"].read()) - 3.0) < 0.3
    assert "coef_ = " in result.stderr and "intercept_ = " in result.stderr


def test_same_seed_same_model_bytes_of_export(tmp_path, cli):
    for name in ("a", "b"):
        cli("train", "sklearn", "--estimator", "RandomForestRegressor", "--param", "n_estimators=3",
            "--dataset", "diabetes", "-o", tmp_path / f"{name}.skops")  # fmt: skip
        exporter.export(tmp_path / f"{name}.skops", tmp_path / f"{name}.npz")
    a, b = exporter.load(tmp_path / "a.npz"), exporter.load(tmp_path / "b.npz")
    assert [t.sha256 for t in a] == [t.sha256 for t in b]


@pytest.mark.parametrize(
    "args,model_name,tensor",
    [
        (["--estimator", "Ridge", "--param", "alpha=0.5"], "Ridge", "coef_"),
        (
            ["--estimator", "LogisticRegression", "--param", "max_iter=300"],
            "LogisticRegression",
            "coef_",
        ),
        (
            [
                "--estimator",
                "StandardScaler+PCA+Ridge",
                "--dataset",
                "diabetes",
                "--param",
                "alpha=2",
            ],
            "Pipeline",
            "pca/components_",
        ),
        (
            [
                "--estimator",
                "MLPRegressor",
                "--param",
                "hidden_layer_sizes=(5,)",
                "--param",
                "max_iter=20",
                "--dataset",
                "diabetes",
            ],
            "MLPRegressor",
            "coefs_/1",
        ),
        (["--estimator", "svc", "--dataset", "wine"], "SVC", "support_vectors_"),
        (
            ["--estimator", "GradientBoostingRegressor", "--param", "n_estimators=2"],
            "GradientBoostingRegressor",
            "estimators_/1/0/tree_/value",
        ),
    ],
    ids=["ridge", "logistic-iris", "pipeline", "mlp", "svc", "gb"],
)
def test_estimators_by_name(tmp_path, cli, args, model_name, tensor):
    result = cli("train", "sklearn", *args, "-o", tmp_path / "m.skops")
    assert result.exit_code == 0, result
    ws = exporter.load(tmp_path / "m.skops")
    assert ws.info.model_name == model_name and tensor in ws.names()
    if "alpha=2" in args:
        assert ws.info.extra["params"] == {
            "memory": None,
            "transform_input": None,
            "verbose": False,
        }


def test_joblib_on_request(tmp_path, cli):
    assert cli("train", "sklearn", "-o", tmp_path / "m.joblib").exit_code == 0
    assert exporter.load(tmp_path / "m.joblib", trust=True).info.kind == "sklearn-pickle"


def test_data_file_csv_and_npz(tmp_path, cli):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = X @ [1.0, -2.0, 0.5] + 1.0
    np.savez(tmp_path / "d.npz", X=X, y=y)
    rows = ["y,a,b,c"] + [
        ",".join(map(repr, [float(yy), *map(float, xx)])) for xx, yy in zip(X, y, strict=True)
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    for data, extra in ((tmp_path / "d.npz", []), (tmp_path / "d.csv", ["--target", "y"])):
        out = tmp_path / f"{data.suffix[1:]}.skops"
        assert cli("train", "sklearn", "--data", data, *extra, "-o", out).exit_code == 0
        assert np.allclose(exporter.load(out)["coef_"].read(), [1.0, -2.0, 0.5])


@pytest.mark.parametrize(
    "args,message",
    [
        (["--estimator", "Ridgee"], "did you mean Ridge"),
        (["--param", "alpha"], "name=value"),
        (["--param", "nope=1"], "not a parameter"),
        (["--dataset", "iris", "--data", "x.csv"], "not both"),
        (["--target", "y"], "--target only applies"),
        (["-o", "m.onnx"], "save as one of"),
    ],
)
def test_usage_errors(tmp_path, cli, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("train", "sklearn", *args)
    assert result.exit_code == 2, result
    assert message in result.stderr


def test_transformer_without_score_and_warnings_as_lines(tmp_path, cli):
    result = cli("train", "sklearn", "--estimator", "StandardScaler", "-o", tmp_path / "s.skops")
    assert result.exit_code == 0 and ", score " not in result.stderr
    result = cli("train", "sklearn", "--estimator", "MLPRegressor", "--param", "max_iter=3",
                 "--dataset", "diabetes", "-o", tmp_path / "m.skops")  # fmt: skip
    assert result.exit_code == 0 and "warning: Stochastic Optimizer" in result.stderr
