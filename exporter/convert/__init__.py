"""Convert Keras and scikit-learn models to ONNX and prove each conversion numerically.

    from exporter.convert import convert, verify
    report = convert("model.keras", "model.onnx")   # writes model.onnx, checks it in onnxruntime
    report.ok                                        # False: some output differs (see report.to_json())

Converters are registered by framework (`keras` through tf2onnx, `sklearn` through skl2onnx);
each knows how to turn a model into ONNX, run the source model, and make seeded inputs.
"""

from exporter.convert.pipeline import ConversionReport, ConvertOptions, convert, verify

__all__ = ["ConversionReport", "ConvertOptions", "convert", "verify"]
