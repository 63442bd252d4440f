"""safetensors: the format other ecosystems load directly; the manifest goes in __metadata__.

Written by the safetensors library itself (safetensors.numpy.save_file), so any safetensors
reader loads it. bfloat16 and float8 keep their real dtype (safetensors has codes for them).
"""

from __future__ import annotations

from pathlib import Path

from .. import manifest as mf
from ..dtypes import as_little_endian
from ..weightset import WeightSet, sha256_of
from . import WRITERS, WriteOptions, Writer

METADATA_KEY = "exporter.manifest"


def write_safetensors(ws: WeightSet, path: Path, options: WriteOptions) -> dict:
    from safetensors.numpy import save_file

    arrays, entries = {}, []
    for tensor in ws:
        array = as_little_endian(tensor.read())
        arrays[tensor.name] = array
        entries.append(mf.TensorEntry(tensor, sha256_of(array), tensor.name))
        if options.progress:
            options.progress(tensor.name)
    manifest = mf.build(ws.info, entries, created=options.created_at)
    save_file(arrays, str(path), metadata={METADATA_KEY: mf.dumps(manifest)})
    return manifest


WRITERS.register(
    "safetensors",
    Writer("safetensors", (".safetensors",), False, write_safetensors, "safetensors file"),
)
