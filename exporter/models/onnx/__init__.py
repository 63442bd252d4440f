"""ONNX: graphs read with the onnx protobuf, external data opened inside the model's folder."""
