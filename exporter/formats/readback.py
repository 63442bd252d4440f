"""Loads the export formats (formats.MODULES, in detection order) for the reader registry.

Each format module registers its own reader and writer when imported; what their readers share
is in common.py. exporter.readers imports this module by name, first of its reader modules.
"""

from __future__ import annotations

import importlib

from exporter.formats import MODULES

for _name in MODULES:
    importlib.import_module(_name)
