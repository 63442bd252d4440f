"""Export formats, one module each (detect + read + write + constants): npz, json_text, csv_text,
safetensors; what their readers share (common), the manifest and the JSON Schemas beside them."""

# The format modules, in detection order: the first whose detect() says yes reads a file. Each
# registers its reader and its writer when imported.
MODULES = (
    "exporter.formats.npz",
    "exporter.formats.json_text",
    "exporter.formats.csv_text",
    "exporter.formats.safetensors",
    "exporter.formats.c",
)
