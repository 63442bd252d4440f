"""Readers of model files and objects, one sub-package per framework (keras, onnx, sklearn)."""
