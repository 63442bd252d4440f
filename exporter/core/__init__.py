"""The core: WeightSet, Tensor, ModelInfo, errors, registries, the dtype table. Imports nothing else
of exporter's."""
