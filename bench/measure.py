"""What the bench scripts share: how to run exporter, and a wrapper that times one command in a
fresh process and reports its wall seconds and peak RSS (MiB) on stdout."""

from __future__ import annotations

import sys
from pathlib import Path

PY = sys.executable
SCRIPT = Path(PY).parent / "exporter"
EXPORTER = [str(SCRIPT), "-q"] if SCRIPT.exists() else [PY, "-m", "exporter", "-q"]

WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
if done.returncode:
    sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
    sys.exit(done.returncode)
print(seconds, usage.ru_maxrss / 1024)
"""
