"""Check, for every finite float32, that orjson's text reads back to the same bits.

exporter writes float32 values with orjson (Ryu: the shortest decimal that rounds to the value
as a float32). Readers parse that decimal to float64 (correctly rounded: orjson, Python's float,
JavaScript's Number) and then round to float32. This script runs that exact path on all
4,278,190,080 finite float32 values and lists every value that does not come back bit for bit
(double rounding: orjson 3.13.0 has exactly two, ±7.038531e-26).

Its last line goes into textformat.F32_EXCEPTIONS: under that orjson version the JSON and CSV
writers parse a float32 block back only when it holds one of the listed values (the check costs
twice the formatting). Under any other orjson version every block is checked, as before.

    .venv/bin/python bench/prove_float32_json.py [--jobs 2]   # about 5 CPU-minutes
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

SLICE = 1 << 24  # bit patterns per task (256 tasks)
BLOCK = 1 << 16  # values per orjson call, as the writers use (textformat.CHUNK_VALUES)


def check_slice(index: int) -> tuple[int, list[int]]:
    """(values checked, bit patterns that do not read back) for one slice of patterns."""
    import numpy as np
    import orjson

    bits = np.arange(index * SLICE, (index + 1) * SLICE, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]
    bad: list[int] = []
    for start in range(0, values.size, BLOCK):
        block = values[start : start + BLOCK]
        text = orjson.dumps(block, option=orjson.OPT_SERIALIZE_NUMPY)
        back = np.array(orjson.loads(text), dtype=np.float64).astype(np.float32)
        wrong = back.view(np.uint32) != block.view(np.uint32)
        bad.extend(block.view(np.uint32)[wrong][:MAX_LISTED].tolist())
    return values.size, bad


MAX_LISTED = 1000  # more than this and the version is not worth listing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=multiprocessing.cpu_count())
    parser.add_argument("--slices", type=int, default=(1 << 32) // SLICE, help="for a quick run")
    args = parser.parse_args()

    import numpy as np
    import orjson

    start = time.perf_counter()
    checked = 0
    bad: list[int] = []
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for count, found in pool.imap_unordered(check_slice, range(args.slices)):
            checked += count
            bad.extend(found)
    seconds = time.perf_counter() - start
    print(f"orjson {orjson.__version__}, numpy {np.__version__}: {checked:,} finite float32 values "
          f"checked in {seconds:.0f} s, {len(bad):,} do not read back bit for bit")  # fmt: skip
    for pattern in sorted(bad)[:20]:
        value = np.array([pattern], np.uint32).view(np.float32)[0]
        print(f"  0x{pattern:08X}  {value!r}")
    if args.slices != (1 << 32) // SLICE:
        print("a partial run: nothing to list")
    elif len(bad) <= MAX_LISTED:
        listed = ", ".join(f"0x{b:08X}" for b in sorted(bad))
        print(f'for textformat.F32_EXCEPTIONS: "{orjson.__version__}": ({listed},)')
    else:
        print("too many failures to list: leave this version out (every block is checked)")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
