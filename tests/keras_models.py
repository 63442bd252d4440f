"""Small Keras models for the file-reader tests, built with Keras 3 (`keras`) or tf-keras.

Each builder takes the Keras module, so the same architecture is saved by both Keras versions.
Weights are overwritten with seeded random values so that every tensor is distinguishable
(BatchNormalization statistics included).
"""

from __future__ import annotations

import numpy as np


def randomize(model, seed: int = 0):
    """Give every weight distinct seeded random values of its own dtype; returns the model."""
    rng = np.random.default_rng(seed)
    values = []
    for array in model.get_weights():
        if np.issubdtype(array.dtype, np.integer):
            values.append(rng.integers(0, 100, array.shape).astype(array.dtype))
        else:
            noise = rng.standard_normal(array.shape).astype(np.float32)
            values.append(
                np.abs(noise).astype(array.dtype) if array.ndim <= 1 else noise.astype(array.dtype)
            )
    model.set_weights(values)
    return model


def dense(K, dtype=None):
    L = K.layers
    kw = {"dtype": dtype} if dtype else {}
    return K.Sequential(
        [
            K.Input((4,)),
            L.Dense(8, activation="relu", name="hidden", **kw),
            L.Dense(3, name="logits", **kw),
        ],
        name="dense_model",
    )


def conv_bn(K):
    L = K.layers
    return K.Sequential(
        [
            K.Input((8, 8, 3)),
            L.Conv2D(4, 3, use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.Conv2D(5, 3),
            L.BatchNormalization(center=False),
            L.Flatten(),
            L.Dense(2),
        ],
        name="conv_bn",
    )


def nested(K):
    """A Sequential inside a Functional model, a shared layer, a frozen layer."""
    L = K.layers
    inner = K.Sequential(
        [K.Input((5,)), L.Dense(4, name="inner_dense"), L.BatchNormalization(name="inner_bn")],
        name="inner_seq",
    )
    inner.layers[0].trainable = False  # a frozen sublayer that comes first
    inp = K.Input((3,), name="x")
    shared = L.Dense(3, name="shared")
    frozen = L.Dense(5, name="frozen_d")
    frozen.trainable = False
    h = frozen(shared(shared(inp)))
    out = L.Dense(2, name="out")(inner(h))
    return K.Model(inp, out, name="outer")


def depthwise(K):
    L = K.layers
    return K.Sequential(
        [K.Input((6, 6, 3)), L.DepthwiseConv2D(3), L.DepthwiseConv2D(2, use_bias=False)],
        name="dw",
    )


def embed_lstm(K):
    L = K.layers
    return K.Sequential(
        [K.Input((7,)), L.Embedding(20, 4), L.LSTM(5), L.Dense(1)], name="embed_lstm"
    )


def gru(K):
    L = K.layers
    return K.Sequential([K.Input((6, 3)), L.GRU(4), L.Dense(2)], name="gru_model")


def layer_norm(K):
    L = K.layers
    return K.Sequential(
        [K.Input((6,)), L.LayerNormalization(), L.LayerNormalization(center=False)], name="ln"
    )


def attention(K):
    L = K.layers
    inp = K.Input((5, 8))
    h = L.MultiHeadAttention(num_heads=2, key_dim=3)(inp, inp)
    out = L.Dense(2)(L.GlobalAveragePooling1D()(h))
    return K.Model(inp, out, name="mha")


def many_layers(K, count: int = 300):
    """So many layers that `layer_names` is split over layer_names0, layer_names1, ..."""
    L = K.layers
    layers = [L.Dense(2, name=f"dense_{i:04d}_{'x' * 120}") for i in range(count)]
    return K.Sequential([K.Input((2,)), *layers], name="many")


def mobilenet_v2(K):
    return K.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=3)


def resnet50(K):
    return K.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=3)


def efficientnet_b0(K):
    return K.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=3)


SMALL = {
    "dense": dense,
    "conv_bn": conv_bn,
    "nested": nested,
    "depthwise": depthwise,
    "embed_lstm": embed_lstm,
    "gru": gru,
    "layer_norm": layer_norm,
    "attention": attention,
}
BIG = {"mobilenet_v2": mobilenet_v2, "resnet50": resnet50, "efficientnet_b0": efficientnet_b0}
