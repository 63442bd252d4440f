"""`make demo`: the main job on built-in defaults, end to end.

Trains the Keras and scikit-learn example models, exports their weights to every format,
validates every export, reads the weights back from the HDF5 file, converts both models to
ONNX with numerical validation, and reads the weights back from the ONNX graphs. Writes
everything under --out (default demo-out/). It uses the public library only: exporter.load,
export and validate, exporter.train, exporter.convert.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

FORMATS = (("npz", "weights.npz"), ("json", "weights.json"), ("csv", "weights-csv"),
           ("safetensors", "weights.safetensors"), ("c", "weights.h"))  # fmt: skip


def say(message: str) -> None:
    print(message, flush=True)


def export_all(source, folder: Path, label: str) -> list[Path]:
    """Export source to every format and validate each export; return the paths."""
    import exporter

    made = []
    for fmt, name in FORMATS:
        out = folder / f"{label}-{name}"
        manifest = exporter.export(source, out, format=fmt, force=True)
        report = exporter.validate(out)
        mark = "✓" if report.ok else "✗"
        say(f"  {mark} {out}  ({fmt}, {manifest['totals']['tensors']} tensors, validated)")
        if not report.ok:
            raise SystemExit(f"validation failed for {out}: {report.problems}")
        made.append(out)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    import exporter
    from exporter.train import data, keras_train, sklearn_train

    say("1. scikit-learn: LinearRegression on X=[[1,1],[1,2],[2,2],[2,3]], y = X.[1,2] + 3 + noise")
    sk = sklearn_train.train(
        data.sklearn_default(42), out=str(out / "models/sklearn_model.skops"), force=True
    )
    say(f"  coef_ = {sk.estimator.coef_.tolist()}  (true [1, 2])")
    say(f"  intercept_ = {float(sk.estimator.intercept_)!r}  (true 3)")
    say(f"  saved {sk.path}")

    say("2. Keras: Dense(64, relu) -> Dense(32, relu) -> Dense(1), Adam + MSE, 100x10 random data")
    kr = keras_train.train(
        data.keras_default(42), layers=[64, 32], out=str(out / "models/keras_model.keras"),
        force=True,
    )  # fmt: skip
    say(f"  final loss {kr.history['loss'][-1]:.6g}; saved {kr.path}")
    h5 = out / "models/keras_model.h5"
    kr.model.save(h5)
    say(f"  also saved the legacy HDF5 layout: {h5}")

    say("3. Export weights to NPZ, JSON, CSV and safetensors; validate every export")
    export_all(sk.path, out, "sklearn")
    export_all(kr.path, out, "keras")

    say("4. Read the weights back from the HDF5 file (h5py, no Keras) and compare")
    from_h5 = exporter.load(h5)
    from_keras = exporter.load(kr.path)
    same = all(
        a.name == b.name and (a.read().tobytes() == b.read().tobytes())
        for a, b in zip(from_h5, from_keras, strict=True)
    )
    say(f"  {'✓' if same else '✗'} {h5}: {len(from_h5)} tensors, identical to {kr.path}")
    if not same:
        return 1

    if _convert_step(out, sk.path, kr.path) != 0:
        return 1
    say(f"done in {time.perf_counter() - started:.1f} s; everything is in {out}/")
    return 0


def _convert_step(out: Path, sk_path: Path, keras_path: Path) -> int:
    import exporter
    from exporter.convert import convert

    say("5. Convert both models to ONNX and check them numerically with onnxruntime")
    status = 0
    pairs = ((sk_path, out / "sklearn_model.onnx"), (keras_path, out / "keras_model.onnx"))
    for source, target in pairs:
        report = convert(source, target, force=True)
        say(f"  {target}:")
        for line in report.lines():
            say(f"    {line}")
        status |= 0 if report.ok else 1
    say("6. Read the weights back from the ONNX graphs (onnx + numpy, no runtime)")
    for _source, target in pairs:
        ws = exporter.load(target)
        export = target.with_suffix(".npz")
        exporter.export(ws, export, force=True)
        mark = "✓" if exporter.validate(export).ok else "✗"
        say(f"  {mark} {target} -> {export}: {len(ws)} tensors, {ws.parameter_count:,} values")
    return status


if __name__ == "__main__":
    sys.exit(main())
