/* exporter.weights C export (format 1.0.0, exporter 0.1.0).
   Generated: do not edit. `exporter validate` checks the values against this manifest.
EXPORTER-MANIFEST-BEGIN
{
  "format": "exporter.weights",
  "format_version": "1.0.0",
  "producer": {
    "name": "exporter",
    "version": "0.1.0",
    "libraries": {
      "numpy": "2.4.6",
      "keras": "3.15.1"
    }
  },
  "source": {
    "kind": "keras-v3",
    "file": "tiny.keras",
    "sha256": "cc3395a9cf7bff0dd5e97ef14dfad5d3ae85e5a3e373082c575936c461a797c2",
    "framework": "keras",
    "framework_version": "3.15.1",
    "model_name": "golden",
    "model_class": "Sequential"
  },
  "naming": "canonical",
  "tensors": [
    {
      "name": "dense/kernel",
      "dtype": "float32",
      "shape": [
        3,
        4
      ],
      "sha256": "67baaf4a5add5cd1a41ab43505d389ac26b1dec8d3633e1928203ca6b154ddd6",
      "location": "tiny_keras_dense_kernel",
      "trainable": true,
      "origin": "/layers/dense/vars/0"
    },
    {
      "name": "dense/bias",
      "dtype": "float32",
      "shape": [
        4
      ],
      "sha256": "374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb",
      "location": "tiny_keras_dense_bias",
      "trainable": true,
      "origin": "/layers/dense/vars/1"
    },
    {
      "name": "batch_normalization/gamma",
      "dtype": "float32",
      "shape": [
        4
      ],
      "sha256": "f6bb1294da2f78cd935b01c7656280df5eaa0439e9d97bc03775825a41a508e4",
      "location": "tiny_keras_batch_normalization_gamma",
      "trainable": true,
      "origin": "/layers/batch_normalization/vars/0"
    },
    {
      "name": "batch_normalization/beta",
      "dtype": "float32",
      "shape": [
        4
      ],
      "sha256": "374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb",
      "location": "tiny_keras_batch_normalization_beta",
      "trainable": true,
      "origin": "/layers/batch_normalization/vars/1"
    },
    {
      "name": "batch_normalization/moving_mean",
      "dtype": "float32",
      "shape": [
        4
      ],
      "sha256": "a64d70c81a8f625682b1b69c405c0f78279d467da9342632e3ff2f9390bd9c60",
      "location": "tiny_keras_batch_normalization_moving_mean",
      "trainable": false,
      "origin": "/layers/batch_normalization/vars/2"
    },
    {
      "name": "batch_normalization/moving_variance",
      "dtype": "float32",
      "shape": [
        4
      ],
      "sha256": "dbe2c839f4852bd22f1dda03bf584b563623bc76b88ac3da14144ac88d1dc3ad",
      "location": "tiny_keras_batch_normalization_moving_variance",
      "trainable": false,
      "origin": "/layers/batch_normalization/vars/3"
    },
    {
      "name": "dense_1/kernel",
      "dtype": "float32",
      "shape": [
        4,
        2
      ],
      "sha256": "138d02db1b009a04ce10555aebd4f4a979fefedb6c7a071f9d26254c00a030fa",
      "location": "tiny_keras_dense_1_kernel",
      "trainable": true,
      "origin": "/layers/dense_1/vars/0"
    },
    {
      "name": "dense_1/bias",
      "dtype": "float32",
      "shape": [
        2
      ],
      "sha256": "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc",
      "location": "tiny_keras_dense_1_bias",
      "trainable": true,
      "origin": "/layers/dense_1/vars/1"
    }
  ],
  "totals": {
    "tensors": 8,
    "parameters": 42,
    "bytes": 168
  }
}
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               
EXPORTER-MANIFEST-END */
#ifndef TINY_KERAS_H_INCLUDED
#define TINY_KERAS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <math.h> /* INFINITY */

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every array (at least 16 bytes; define TINY_KERAS_ALIGN to override). */
#ifndef TINY_KERAS_ALIGN
#if defined(__cplusplus) && __cplusplus >= 201103L
#define TINY_KERAS_ALIGN(n) alignas(n)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define TINY_KERAS_ALIGN(n) _Alignas(n)
#elif defined(__GNUC__) || defined(__clang__)
#define TINY_KERAS_ALIGN(n) __attribute__((aligned(n)))
#elif defined(__CC_ARM)
#define TINY_KERAS_ALIGN(n) __align(n)
#elif defined(_MSC_VER)
#define TINY_KERAS_ALIGN(n) __declspec(align(n))
#else
#define TINY_KERAS_ALIGN(n)
#endif
#endif

/* Placement of every array (--c-section, --c-const-progmem). */
#if defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM)
#define TINY_KERAS_ATTRS
#else
#define TINY_KERAS_ATTRS
#endif

/* Storage. By default every array is `static const`: include this header anywhere
   (each file that uses an array gets its own copy). In a project that includes it
   from many files, define TINY_KERAS_EXTERN before every #include and TINY_KERAS_IMPLEMENTATION
   (instead) in exactly one .c/.cpp file: one copy of the data, with external
   linkage, and `extern` declarations everywhere else. */
#if defined(TINY_KERAS_IMPLEMENTATION)
#define TINY_KERAS_DEFINITIONS 1
#ifdef __cplusplus
#define TINY_KERAS_STORAGE extern /* C++ const objects have internal linkage otherwise */
#else
#define TINY_KERAS_STORAGE
#endif
#elif defined(TINY_KERAS_EXTERN)
#define TINY_KERAS_DEFINITIONS 0
#else
#define TINY_KERAS_DEFINITIONS 1
#define TINY_KERAS_STORAGE static
#endif

/* Every array: aligned, const, in the section asked for. */
#define TINY_KERAS_ARRAY(name, type, count, align) \
    TINY_KERAS_ALIGN(align) TINY_KERAS_STORAGE const type name[count] TINY_KERAS_ATTRS

/* Values: float/double as hexadecimal floating constants (exact bits); float16,
   bfloat16 and float8 as uint16_t/uint8_t bit patterns; bool as uint8_t; a float
   tensor holding a NaN as uint32_t/uint64_t bit patterns (C has no portable constant
   for a NaN's payload). The descriptor's dtype names the real type. */

#define TINY_KERAS_DENSE_KERNEL_NDIM 2
#define TINY_KERAS_DENSE_KERNEL_SIZE 12
#define TINY_KERAS_DENSE_KERNEL_SHAPE {3, 4}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_dense_kernel, float, 12, 16) = {
 0x1.dbd240p-006f,-0x1.6a089cp-002f, 0x1.414b7cp-001f,-0x1.74f506p-001f,-0x1.8e7110p-003f,
-0x1.29022ap-001f,-0x1.c35800p-010f, 0x1.cd70f8p-001f, 0x1.9b8380p-004f,-0x1.da57c0p-004f,
 0x1.0a5ae0p-001f, 0x1.292300p-003f,
};
#else
extern const float tiny_keras_dense_kernel[12];
#endif /* TINY_KERAS_DEFINITIONS */

#define TINY_KERAS_DENSE_BIAS_NDIM 1
#define TINY_KERAS_DENSE_BIAS_SIZE 4
#define TINY_KERAS_DENSE_BIAS_SHAPE {4}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_dense_bias, float, 4, 16) = {
 0x0.000000p+000f, 0x0.000000p+000f, 0x0.000000p+000f, 0x0.000000p+000f,
};
#else
extern const float tiny_keras_dense_bias[4];
#endif /* TINY_KERAS_DEFINITIONS */

#define TINY_KERAS_BATCH_NORMALIZATION_GAMMA_NDIM 1
#define TINY_KERAS_BATCH_NORMALIZATION_GAMMA_SIZE 4
#define TINY_KERAS_BATCH_NORMALIZATION_GAMMA_SHAPE {4}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_batch_normalization_gamma, float, 4, 16) = {
 0x1.000000p+000f, 0x1.000000p+000f, 0x1.000000p+000f, 0x1.000000p+000f,
};
#else
extern const float tiny_keras_batch_normalization_gamma[4];
#endif /* TINY_KERAS_DEFINITIONS */

#define TINY_KERAS_BATCH_NORMALIZATION_BETA_NDIM 1
#define TINY_KERAS_BATCH_NORMALIZATION_BETA_SIZE 4
#define TINY_KERAS_BATCH_NORMALIZATION_BETA_SHAPE {4}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_batch_normalization_beta, float, 4, 16) = {
 0x0.000000p+000f, 0x0.000000p+000f, 0x0.000000p+000f, 0x0.000000p+000f,
};
#else
extern const float tiny_keras_batch_normalization_beta[4];
#endif /* TINY_KERAS_DEFINITIONS */

#define TINY_KERAS_BATCH_NORMALIZATION_MOVING_MEAN_NDIM 1
#define TINY_KERAS_BATCH_NORMALIZATION_MOVING_MEAN_SIZE 4
#define TINY_KERAS_BATCH_NORMALIZATION_MOVING_MEAN_SHAPE {4}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_batch_normalization_moving_mean, float, 4, 16) = {
-0x1.000000p+000f,-0x1.555556p-002f, 0x1.555556p-002f, 0x1.000000p+000f,
};
#else
extern const float tiny_keras_batch_normalization_moving_mean[4];
#endif /* TINY_KERAS_DEFINITIONS */

#define TINY_KERAS_BATCH_NORMALIZATION_MOVING_VARIANCE_NDIM 1
#define TINY_KERAS_BATCH_NORMALIZATION_MOVING_VARIANCE_SIZE 4
#define TINY_KERAS_BATCH_NORMALIZATION_MOVING_VARIANCE_SHAPE {4}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_batch_normalization_moving_variance, float, 4, 16) = {
 0x1.000000p-001f, 0x1.000000p+000f, 0x1.800000p+000f, 0x1.000000p+001f,
};
#else
extern const float tiny_keras_batch_normalization_moving_variance[4];
#endif /* TINY_KERAS_DEFINITIONS */

#define TINY_KERAS_DENSE_1_KERNEL_NDIM 2
#define TINY_KERAS_DENSE_1_KERNEL_SIZE 8
#define TINY_KERAS_DENSE_1_KERNEL_SHAPE {4, 2}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_dense_1_kernel, float, 8, 16) = {
-0x1.6af190p-002f,-0x1.36c290p-001f,-0x1.c288a0p-002f, 0x1.778c70p-002f, 0x1.49c7c0p-002f,
-0x1.45ba50p-002f,-0x1.617960p-002f,-0x1.6d9480p-004f,
};
#else
extern const float tiny_keras_dense_1_kernel[8];
#endif /* TINY_KERAS_DEFINITIONS */

#define TINY_KERAS_DENSE_1_BIAS_NDIM 1
#define TINY_KERAS_DENSE_1_BIAS_SIZE 2
#define TINY_KERAS_DENSE_1_BIAS_SHAPE {2}
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_ARRAY(tiny_keras_dense_1_bias, float, 2, 16) = {
 0x0.000000p+000f, 0x0.000000p+000f,
};
#else
extern const float tiny_keras_dense_1_bias[2];
#endif /* TINY_KERAS_DEFINITIONS */

/* Every tensor, in the manifest's order: iterate without knowing names. */
typedef struct tiny_keras_tensor {
    const char *name;    /* canonical name, UTF-8 */
    const char *dtype;   /* manifest dtype: float32, bfloat16, int8, bool, ... */
    const void *data;    /* the values, C order, in the target's byte order */
    size_t nbytes;
    size_t ndim;
    const size_t *shape; /* ndim dimensions */
} tiny_keras_tensor_t;

#define TINY_KERAS_TENSOR_COUNT 8
#if TINY_KERAS_DEFINITIONS
TINY_KERAS_STORAGE const size_t tiny_keras_tensor_count = 8;
TINY_KERAS_STORAGE const size_t tiny_keras_shapes[10] = {3, 4, 4, 4, 4, 4, 4, 4, 2, 2};
TINY_KERAS_STORAGE const tiny_keras_tensor_t tiny_keras_tensors[8] = {
    {"dense/kernel", "float32", tiny_keras_dense_kernel, 48, 2, tiny_keras_shapes + 0},
    {"dense/bias", "float32", tiny_keras_dense_bias, 16, 1, tiny_keras_shapes + 2},
    {"batch_normalization/gamma", "float32", tiny_keras_batch_normalization_gamma, 16, 1, tiny_keras_shapes + 3},
    {"batch_normalization/beta", "float32", tiny_keras_batch_normalization_beta, 16, 1, tiny_keras_shapes + 4},
    {"batch_normalization/moving_mean", "float32", tiny_keras_batch_normalization_moving_mean, 16, 1, tiny_keras_shapes + 5},
    {"batch_normalization/moving_variance", "float32", tiny_keras_batch_normalization_moving_variance, 16, 1, tiny_keras_shapes + 6},
    {"dense_1/kernel", "float32", tiny_keras_dense_1_kernel, 32, 2, tiny_keras_shapes + 7},
    {"dense_1/bias", "float32", tiny_keras_dense_1_bias, 8, 1, tiny_keras_shapes + 9},
};
#else
extern const size_t tiny_keras_tensor_count;
extern const size_t tiny_keras_shapes[10];
extern const tiny_keras_tensor_t tiny_keras_tensors[8];
#endif

#ifdef __cplusplus
}
#endif

#endif /* TINY_KERAS_H_INCLUDED */
