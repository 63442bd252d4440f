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
      "scikit-learn": "1.9.1"
    }
  },
  "source": {
    "kind": "sklearn-skops",
    "file": "tiny.skops",
    "sha256": "d44abe9bd7e491e818a05de20afc77becd91ea6dcba3e4cf93c014fbb51dde4c",
    "framework": "scikit-learn",
    "framework_version": "1.9.1",
    "model_name": "Pipeline",
    "model_class": "sklearn.pipeline.Pipeline",
    "info": {
      "standardscaler/n_features_in_": 4,
      "standardscaler/n_samples_seen_": 442.0,
      "ridge/n_features_in_": 4,
      "ridge/n_iter_": null,
      "ridge/solver_": "cholesky",
      "n_features_in_": 4,
      "params": {
        "memory": null,
        "transform_input": null,
        "verbose": false
      },
      "steps": [
        [
          "standardscaler",
          "sklearn.preprocessing._data.StandardScaler"
        ],
        [
          "ridge",
          "sklearn.linear_model._ridge.Ridge"
        ]
      ]
    }
  },
  "naming": "canonical",
  "tensors": [
    {
      "name": "standardscaler/mean_",
      "dtype": "float64",
      "shape": [
        4
      ],
      "sha256": "6a50380467d2b8b3322ec9c14289a4e435ef6e9d419a342056ddf7df211a495c",
      "location": "tiny_skops_standardscaler_mean_",
      "origin": "standardscaler/mean_"
    },
    {
      "name": "standardscaler/var_",
      "dtype": "float64",
      "shape": [
        4
      ],
      "sha256": "f003ee41f8f2810bbf23d449a4e8ddbd806b1a3e7cf6a1221ef2967b58d3453e",
      "location": "tiny_skops_standardscaler_var_",
      "origin": "standardscaler/var_"
    },
    {
      "name": "standardscaler/scale_",
      "dtype": "float64",
      "shape": [
        4
      ],
      "sha256": "0f2777149f9fbced1de6474971fe576f12a5290bba177b6670005a1513e288c2",
      "location": "tiny_skops_standardscaler_scale_",
      "origin": "standardscaler/scale_"
    },
    {
      "name": "ridge/coef_",
      "dtype": "float64",
      "shape": [
        4
      ],
      "sha256": "95a141a0a5e8a67ab8dffb422fcf081c09fcbd06d496c127e0cd14f31ee7b93e",
      "location": "tiny_skops_ridge_coef_",
      "origin": "ridge/coef_"
    },
    {
      "name": "ridge/intercept_",
      "dtype": "float64",
      "shape": [],
      "sha256": "619c625a2fa4ae8bed2c2a8ba0ecc4dac55bdc14cee32db23a18d32ab45be02c",
      "location": "tiny_skops_ridge_intercept_",
      "origin": "ridge/intercept_"
    }
  ],
  "totals": {
    "tensors": 5,
    "parameters": 17,
    "bytes": 136
  }
}
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               
EXPORTER-MANIFEST-END */
#ifndef TINY_SKOPS_H_INCLUDED
#define TINY_SKOPS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <math.h> /* INFINITY */

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every array (at least 16 bytes; define TINY_SKOPS_ALIGN to override). */
#ifndef TINY_SKOPS_ALIGN
#if defined(__cplusplus) && __cplusplus >= 201103L
#define TINY_SKOPS_ALIGN(n) alignas(n)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define TINY_SKOPS_ALIGN(n) _Alignas(n)
#elif defined(__GNUC__) || defined(__clang__)
#define TINY_SKOPS_ALIGN(n) __attribute__((aligned(n)))
#elif defined(__CC_ARM)
#define TINY_SKOPS_ALIGN(n) __align(n)
#elif defined(_MSC_VER)
#define TINY_SKOPS_ALIGN(n) __declspec(align(n))
#else
#define TINY_SKOPS_ALIGN(n)
#endif
#endif

/* Placement of every array (--c-section, --c-const-progmem). */
#if defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM)
#define TINY_SKOPS_ATTRS
#else
#define TINY_SKOPS_ATTRS
#endif

/* Storage. By default every array is `static const`: include this header anywhere
   (each file that uses an array gets its own copy). In a project that includes it
   from many files, define TINY_SKOPS_EXTERN before every #include and TINY_SKOPS_IMPLEMENTATION
   (instead) in exactly one .c/.cpp file: one copy of the data, with external
   linkage, and `extern` declarations everywhere else. */
#if defined(TINY_SKOPS_IMPLEMENTATION)
#define TINY_SKOPS_DEFINITIONS 1
#ifdef __cplusplus
#define TINY_SKOPS_STORAGE extern /* C++ const objects have internal linkage otherwise */
#else
#define TINY_SKOPS_STORAGE
#endif
#elif defined(TINY_SKOPS_EXTERN)
#define TINY_SKOPS_DEFINITIONS 0
#else
#define TINY_SKOPS_DEFINITIONS 1
#define TINY_SKOPS_STORAGE static
#endif

/* Every array: aligned, const, in the section asked for. */
#define TINY_SKOPS_ARRAY(name, type, count, align) \
    TINY_SKOPS_ALIGN(align) TINY_SKOPS_STORAGE const type name[count] TINY_SKOPS_ATTRS

/* Values: float/double as hexadecimal floating constants (exact bits); float16,
   bfloat16 and float8 as uint16_t/uint8_t bit patterns; bool as uint8_t; a float
   tensor holding a NaN as uint32_t/uint64_t bit patterns (C has no portable constant
   for a NaN's payload). The descriptor's dtype names the real type. */

#define TINY_SKOPS_STANDARDSCALER_MEAN__NDIM 1
#define TINY_SKOPS_STANDARDSCALER_MEAN__SIZE 4
#define TINY_SKOPS_STANDARDSCALER_MEAN__SHAPE {4}
#if TINY_SKOPS_DEFINITIONS
TINY_SKOPS_ARRAY(tiny_skops_standardscaler_mean_, double, 4, 16) = {
-0x1.aa47d1aa47d1bp-0060, 0x1.774fed774fed7p-0059,-0x1.04172adc172aep-0052,-0x1.bfb5dd3fb5dd4p-0055,
};
#else
extern const double tiny_skops_standardscaler_mean_[4];
#endif /* TINY_SKOPS_DEFINITIONS */

#define TINY_SKOPS_STANDARDSCALER_VAR__NDIM 1
#define TINY_SKOPS_STANDARDSCALER_VAR__SIZE 4
#define TINY_SKOPS_STANDARDSCALER_VAR__SHAPE {4}
#if TINY_SKOPS_DEFINITIONS
TINY_SKOPS_ARRAY(tiny_skops_standardscaler_var_, double, 4, 16) = {
 0x1.288b01288b00fp-0009, 0x1.288b01288b03ap-0009, 0x1.288b01288b010p-0009, 0x1.288b01288b014p-0009,
};
#else
extern const double tiny_skops_standardscaler_var_[4];
#endif /* TINY_SKOPS_DEFINITIONS */

#define TINY_SKOPS_STANDARDSCALER_SCALE__NDIM 1
#define TINY_SKOPS_STANDARDSCALER_SCALE__SIZE 4
#define TINY_SKOPS_STANDARDSCALER_SCALE__SHAPE {4}
#if TINY_SKOPS_DEFINITIONS
TINY_SKOPS_ARRAY(tiny_skops_standardscaler_scale_, double, 4, 16) = {
 0x1.85a75925660fbp-0005, 0x1.85a7592566117p-0005, 0x1.85a75925660fcp-0005, 0x1.85a75925660fep-0005,
};
#else
extern const double tiny_skops_standardscaler_scale_[4];
#endif /* TINY_SKOPS_DEFINITIONS */

#define TINY_SKOPS_RIDGE_COEF__NDIM 1
#define TINY_SKOPS_RIDGE_COEF__SIZE 4
#define TINY_SKOPS_RIDGE_COEF__SHAPE {4}
#if TINY_SKOPS_DEFINITIONS
TINY_SKOPS_ARRAY(tiny_skops_ridge_coef_, double, 4, 16) = {
 0x1.c75f0e61de6c8p+0000,-0x1.43bf240e47c5bp+0002, 0x1.2b381911f58c4p+0005, 0x1.3ceb2e3706367p+0004,
};
#else
extern const double tiny_skops_ridge_coef_[4];
#endif /* TINY_SKOPS_DEFINITIONS */

#define TINY_SKOPS_RIDGE_INTERCEPT__NDIM 0
#define TINY_SKOPS_RIDGE_INTERCEPT__SIZE 1
#define TINY_SKOPS_RIDGE_INTERCEPT__SHAPE {0} /* a scalar: no dimensions */
#if TINY_SKOPS_DEFINITIONS
TINY_SKOPS_ARRAY(tiny_skops_ridge_intercept_, double, 1, 16) = {
 0x1.3044580944581p+0007,
};
#else
extern const double tiny_skops_ridge_intercept_[1];
#endif /* TINY_SKOPS_DEFINITIONS */

/* Every tensor, in the manifest's order: iterate without knowing names. */
typedef struct tiny_skops_tensor {
    const char *name;    /* canonical name, UTF-8 */
    const char *dtype;   /* manifest dtype: float32, bfloat16, int8, bool, ... */
    const void *data;    /* the values, C order, in the target's byte order */
    size_t nbytes;
    size_t ndim;
    const size_t *shape; /* ndim dimensions */
} tiny_skops_tensor_t;

#define TINY_SKOPS_TENSOR_COUNT 5
#if TINY_SKOPS_DEFINITIONS
TINY_SKOPS_STORAGE const size_t tiny_skops_tensor_count = 5;
TINY_SKOPS_STORAGE const size_t tiny_skops_shapes[4] = {4, 4, 4, 4};
TINY_SKOPS_STORAGE const tiny_skops_tensor_t tiny_skops_tensors[5] = {
    {"standardscaler/mean_", "float64", tiny_skops_standardscaler_mean_, 32, 1, tiny_skops_shapes + 0},
    {"standardscaler/var_", "float64", tiny_skops_standardscaler_var_, 32, 1, tiny_skops_shapes + 1},
    {"standardscaler/scale_", "float64", tiny_skops_standardscaler_scale_, 32, 1, tiny_skops_shapes + 2},
    {"ridge/coef_", "float64", tiny_skops_ridge_coef_, 32, 1, tiny_skops_shapes + 3},
    {"ridge/intercept_", "float64", tiny_skops_ridge_intercept_, 8, 0, tiny_skops_shapes + 4},
};
#else
extern const size_t tiny_skops_tensor_count;
extern const size_t tiny_skops_shapes[4];
extern const tiny_skops_tensor_t tiny_skops_tensors[5];
#endif

#ifdef __cplusplus
}
#endif

#endif /* TINY_SKOPS_H_INCLUDED */
