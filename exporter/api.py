"""The library's verbs: load, export, inspect, validate (batches: exporter.batch.export_many).
The CLI is a thin layer over these."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporter.core.errors import ExporterError, InputError, UnsafeInputError, UsageError
from exporter.core.weightset import Tensor, WeightSet, sha256_of
from exporter.readers import ReadOptions, read_path
from exporter.writers import WriteOptions, format_for, write, writers

Source = str | os.PathLike | Any


def load(
    source: Source,
    *,
    trust: bool = False,
    config: str | None = None,
    include_optimizer: bool = False,
    via: str = "auto",
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> WeightSet:
    """A WeightSet from a file or folder of any supported kind, or a model object.

    Files are recognised by content. `trust` allows pickle/joblib (which run code); `config`
    names the model config for a bare `.weights.h5`; `via="keras"` loads Keras files through
    Keras itself instead of reading them directly. `only`/`exclude` keep the tensors whose
    names match any `only` glob and no `exclude` glob (fnmatch: `dense*/kernel`, `*/bias`).

        ws = exporter.load("model.keras", only=["*/kernel"])
        kernel = np.asarray(ws["dense/kernel"])
    """
    options = ReadOptions(trust=trust, config=config, include_optimizer=include_optimizer, via=via)
    if isinstance(source, (str, os.PathLike)):
        ws = read_path(source, options)
    else:
        ws = read_object(source, options)
    return ws.select(only, exclude) if only or exclude else ws


def read_object(obj: Any, options: ReadOptions | None = None) -> WeightSet:
    """A WeightSet from an in-memory model: any Keras Model or Layer (Keras 3 or tf-keras,
    subclassed ones included, told by isinstance against the framework's base classes) or a
    fitted scikit-learn estimator."""
    options = options or ReadOptions()
    if isinstance(obj, WeightSet):
        return obj
    from exporter.models.keras.api import is_keras_object, weightset_from_model

    if is_keras_object(obj):
        return weightset_from_model(obj, include_optimizer=options.include_optimizer)
    module = type(obj).__module__.split(".")[0]
    if module == "sklearn" or hasattr(obj, "get_params"):
        from exporter.models.sklearn.api import weightset_from_estimator

        return weightset_from_estimator(obj)
    raise UsageError(f"cannot read a {type(obj).__module__}.{type(obj).__name__} object")


def export(
    source: Source,
    out: str | os.PathLike,
    *,
    format: str | None = None,
    force: bool = False,
    created_at: str | None = None,
    csv_layout: str = "wide",
    progress=None,
    c_prefix: str | None = None,
    c_align: int = 16,
    c_section: str | None = None,
    c_progmem: bool = False,
    c_split: bool = False,
    c_extra: tuple = (),
    test_vectors: int = 0,
    json_int_as_string: bool = False,
    **load_options: Any,
) -> dict[str, Any]:
    """Export a source's weights to out (NPZ, JSON, CSV folder, safetensors or a C header);
    returns the manifest. c_* options apply to C exports; test_vectors=N (C, from a model file)
    also writes N seeded inputs and the model's outputs for them (exporter.c_vectors)."""
    to_stdout = os.fspath(out) == STDOUT
    chosen = (format or "json").lower() if to_stdout else format_for(out, format).format
    c_options = (c_prefix, c_section, c_progmem, c_split, c_extra, test_vectors, c_align != 16)
    if any(c_options) and chosen != "c":
        raise UsageError("the --c-* options and --test-vectors apply to C exports (--format c)")
    if json_int_as_string and chosen != "json":
        raise UsageError("--json-int-as-string applies to JSON exports (--format json)")
    if to_stdout:
        ws = source if isinstance(source, WeightSet) else load(source, **load_options)
        return _export_to_stdout(ws, format, created_at, progress, json_int_as_string)
    if test_vectors:
        from exporter.c_vectors import test_vectors as vectors

        c_extra = vectors(source, test_vectors, load_options.get("trust", False))
    ws = source if isinstance(source, WeightSet) else load(source, **load_options)
    options = WriteOptions(created_at=created_at, csv_layout=csv_layout, progress=progress,
                           c_prefix=c_prefix, c_align=c_align, c_section=c_section,
                           c_progmem=c_progmem, c_extra=tuple(c_extra), c_split=c_split,
                           json_int_as_string=json_int_as_string)  # fmt: skip
    if not c_split:
        return write(ws, out, format, force=force, options=options)
    return _write_split(ws, Path(out), format, force, options)


def _write_split(ws: WeightSet, out: Path, fmt: str | None, force: bool, options) -> dict:
    """--c-split: the header (extern declarations, the manifest) and beside it the .c file that
    defines the arrays. Both names are checked before anything is written; each is published
    with the same no-replace rule."""
    from exporter.files.publish import atomic_file
    from exporter.formats.c_source import companion_source, default_prefix

    source_file = out.with_suffix(".c")
    if set(out.name) & {'"', "\\", "\n", "\r"}:
        raise UsageError(f"--c-split: {out.name!r} cannot be written in an #include line")
    if source_file == out:
        raise UsageError(f"--c-split: -o {out} must name the header (.h); the .c goes beside it")
    check_output(source_file, force)
    manifest = write(ws, out, fmt, force=force, options=options)
    with atomic_file(source_file, force=force) as tmp:
        tmp.write_text(companion_source(options.c_prefix or default_prefix(out), out.name))
    return manifest


STDOUT = "-"  # the output name that means standard output


def _export_to_stdout(
    ws: WeightSet, fmt: str | None, created_at: str | None, progress, int_strings: bool = False
) -> dict:
    """out="-": the JSON document (default), or the long CSV table `tensor,index,value`, on
    stdout. Written to a private temporary folder first, so stdout gets a whole export or
    nothing (a failure mid-way leaves no half document in a pipe); the CSV manifest is not
    printed (write a CSV folder to keep it)."""
    import shutil
    import sys
    import tempfile

    fmt = (fmt or "json").lower()
    if fmt not in ("json", "csv"):
        raise UsageError(f"-o - writes JSON or CSV (the long table) to stdout, not {fmt}")
    layout = "long" if fmt == "csv" else "wide"
    options = WriteOptions(
        created_at=created_at,
        csv_layout=layout,
        progress=progress,
        json_int_as_string=int_strings,
    )
    with tempfile.TemporaryDirectory(prefix="exporter-stdout-") as folder:
        target = Path(folder) / ("out.json" if fmt == "json" else "out-csv")
        manifest = write(ws, target, fmt, options=options)
        data = target if fmt == "json" else target / "weights.csv"
        with open(data, "rb") as handle:
            sys.stdout.flush()
            shutil.copyfileobj(handle, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
    return manifest


def formats() -> dict[str, tuple[str, ...]]:
    """Every export format by name, with the endings of an output name that choose it (the
    first is the one an output exporter names gets; "/" ends the name of a folder: CSV)."""
    return {writer.format: writer.extensions for writer in writers()}


STATS_CHUNK = 1 << 20


def _moments(flat: np.ndarray) -> tuple[int, float, float, float, float, int]:
    """(finite count, min, max, mean, std, non-finite count) over slices of 1M values, merged
    with Chan's formula, so statistics of a big tensor need no float64 copy of all of it.
    Values are scaled by the largest magnitude first, so squares of 1e308 do not overflow."""
    scale = 0.0
    for start in range(0, flat.size, STATS_CHUNK):
        part = np.asarray(flat[start : start + STATS_CHUNK], dtype=np.float64)
        finite = np.abs(part[np.isfinite(part)])
        if finite.size:
            scale = max(scale, float(finite.max()))
    scale = scale or 1.0
    count, low, high, mean, m2, nonfinite = 0, np.inf, -np.inf, 0.0, 0.0, 0
    for start in range(0, flat.size, STATS_CHUNK):
        part = np.asarray(flat[start : start + STATS_CHUNK], dtype=np.float64)
        finite = part[np.isfinite(part)]
        nonfinite += part.size - finite.size
        if not finite.size:
            continue
        low, high = min(low, float(finite.min())), max(high, float(finite.max()))
        finite = finite / scale
        n, part_mean = finite.size, float(finite.mean())
        part_m2 = float(((finite - part_mean) ** 2).sum())
        delta, total = part_mean - mean, count + n
        mean += delta * n / total
        m2 += part_m2 + delta * delta * count * n / total
        count = total
    std = float(np.sqrt(m2 / count)) * scale if count else 0.0
    return count, low, high, mean * scale, std, nonfinite


def tensor_stats(tensor: Tensor, array: np.ndarray) -> dict[str, Any]:
    """name, shape, dtype, parameter count, trainable and min/max/mean/std of one tensor."""
    row: dict[str, Any] = {
        "name": tensor.name,
        "shape": list(tensor.shape),
        "dtype": tensor.dtype_name,
        "parameters": tensor.size,
        "trainable": tensor.trainable,
    }
    count, low, high, mean, std, nonfinite = _moments(array.reshape(-1))
    if count:
        row.update(min=low, max=high, mean=mean, std=std)
    else:
        row.update(min=None, max=None, mean=None, std=None)
    row["nonfinite"] = nonfinite
    return row


def inspect(source: Source, **load_options: Any) -> dict[str, Any]:
    """A summary of a source: model info, one row of statistics per tensor, and totals."""
    ws = source if isinstance(source, WeightSet) else load(source, **load_options)
    rows = [tensor_stats(t, t.read()) for t in ws]
    info = ws.info
    return {
        "source": {
            "kind": info.kind,
            "file": info.file,
            "framework": info.framework,
            "framework_version": info.framework_version,
            "model_name": info.model_name,
            "model_class": info.model_class,
            "naming": info.naming,
        },
        "warnings": list(info.warnings),
        "tensors": rows,
        "totals": {
            "tensors": len(rows),
            "parameters": sum(r["parameters"] for r in rows),
            "trainable_parameters": sum(r["parameters"] for r in rows if r["trainable"] is True),
            "unknown_trainable_parameters": sum(
                r["parameters"] for r in rows if r["trainable"] is None
            ),
            "bytes": sum(t.nbytes for t in ws),
        },
    }


@dataclass
class ValidationReport:
    """The result of validating an export: ok, and one problem per failing tensor."""

    path: str
    kind: str
    tensors: int = 0
    checked: list[str] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "ok": self.ok,
            "tensors": self.tensors,
            "checked": self.checked,
            "problems": self.problems,
        }


def validate(path: str | os.PathLike) -> ValidationReport:
    """Check an export: manifest schema, then every tensor's presence, shape, dtype and sha256.

    Unreadable or non-export files raise InputError, and data refused as unsafe (a symlink, a
    FIFO) UnsafeInputError; a readable export whose data disagrees with its manifest gives a
    report with ok False naming each tensor.
    """
    ws = read_path(path)
    manifest = ws.info.extra.get("manifest")
    if manifest is None:
        raise InputError(
            f"{path}: has no exporter manifest, so there is nothing to validate against"
        )
    report = ValidationReport(str(path), ws.info.kind, tensors=len(ws))
    report.checked = ["schema", "totals", "presence", "shape", "dtype", "sha256"]
    declared, held = manifest["totals"]["bytes"], sum(t.nbytes for t in ws)
    if declared != held:
        report.problems.append(
            {
                "tensor": "(manifest)",
                "problem": f"totals.bytes says {declared}, tensors hold {held}",
            }
        )
    for tensor in ws:
        try:
            array = tensor.read()
        except UnsafeInputError:
            raise  # refused, not damaged: exit 3 like every other command (a link, a FIFO)
        except ExporterError as exc:
            report.problems.append({"tensor": tensor.name, "problem": str(exc)})
            continue
        digest = sha256_of(array)
        if digest != tensor.sha256:
            report.problems.append(
                {
                    "tensor": tensor.name,
                    "problem": f"sha256 {digest[:12]}... != manifest {tensor.sha256[:12]}...",
                }
            )
    return report


def check_output(out: str | os.PathLike, force: bool = False) -> None:
    """Refuse an output that exists (without force) now, before long work: OutputExistsError.
    Publishing checks again at the end; this only saves the work."""
    from pathlib import Path

    from exporter.files.publish import check_destination

    check_destination(Path(out), force)


_CUSTOM_IMPORTS: list[str] = []  # what use_custom_objects imported (absolute), for workers


def use_custom_objects(modules: Sequence[str]) -> list[str]:
    """Import each module (a dotted name, looked up in the current folder first, or a path to a
    .py file) so that the Keras classes it registers can be loaded, and allow configs to name
    it. Importing runs the module's code: an explicit act of trust in those modules, never in
    the model file (whose other hazards are still refused). The current folder is searched only
    for these modules: libraries imported later never resolve from it. Returns the names."""
    from exporter.models.keras.config import trust_custom_modules

    names = [_import_custom(given) for given in modules]
    trust_custom_modules(names)
    return names


def custom_imports() -> list[str]:
    """The modules use_custom_objects imported in this process, as absolute references that a
    worker process can import again (batch export)."""
    return list(_CUSTOM_IMPORTS)


def _import_custom(given: str) -> str:
    import importlib.util
    import re
    import sys

    if given.endswith(".py"):
        path = Path(given).resolve()
        name = path.stem
    elif re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", given):
        name, path = given, None
    else:
        raise UsageError(f"--custom-objects {given!r}: give a module name or a .py file")
    if path is None and name in sys.modules:
        return name  # already imported (a library, or this module given twice)
    try:
        spec = (
            importlib.util.spec_from_file_location(name, path)
            if path is not None
            else _spec_from_cwd(name)
        )
        if spec is None or (path is not None and not path.is_file()):
            raise ImportError("not found")
        if path is not None and name in sys.modules:
            raise ImportError(f"a module named {name!r} is already loaded; rename the file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is theirs to see, not a bug here
        sys.modules.pop(name, None)
        raise UsageError(
            f"--custom-objects {given}: cannot import it ({type(exc).__name__}: {exc})"
        ) from None
    _CUSTOM_IMPORTS.append(str(path) if path is not None else str(Path(spec.origin).resolve()))
    return name


def _spec_from_cwd(name: str):
    """The module's spec from the current folder first, then the usual path, without leaving
    the current folder on sys.path (a later `import orjson` must never find ./orjson.py)."""
    import importlib.machinery
    import importlib.util

    if "." not in name:
        found = importlib.machinery.PathFinder.find_spec(name, [os.getcwd()])
        if found is not None:
            return found
    return importlib.util.find_spec(name)
