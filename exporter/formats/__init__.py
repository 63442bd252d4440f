"""Export formats, one module each (detect + read + write + constants): npz, json_text, csv_text,
safetensors; the manifest and the JSON Schemas beside them."""
