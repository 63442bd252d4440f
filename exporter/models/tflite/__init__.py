"""TFLite models (.tflite), read as FlatBuffer data without TensorFlow."""
