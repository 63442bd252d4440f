"""The version of exporter (the package and its manifests' producer.version)."""

__version__ = "0.1.0"
