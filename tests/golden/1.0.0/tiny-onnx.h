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
      "onnx": "tests"
    }
  },
  "source": {
    "kind": "onnx",
    "file": "tiny.onnx",
    "sha256": "7978ced1bd61319f7f68bc493798ed5476c7ca4100aa371e6c3c1678fa01ae3a",
    "framework": "onnx",
    "framework_version": "tests",
    "model_name": "g",
    "info": {
      "ir_version": 9,
      "opset_import": {
        "ai.onnx": 18,
        "ai.onnx.ml": 3
      },
      "producer_name": "tests",
      "producer_version": "",
      "graph_name": "g"
    }
  },
  "naming": "canonical",
  "tensors": [
    {
      "name": "f32_raw",
      "dtype": "float32",
      "shape": [
        3,
        4
      ],
      "sha256": "0015c6b23141b345397cb35462ad4a23494804504269cb6d6431d57636cfa23b",
      "location": "tiny_onnx_f32_raw",
      "origin": "initializer 'f32_raw'"
    },
    {
      "name": "f32_typed",
      "dtype": "float32",
      "shape": [
        3,
        4
      ],
      "sha256": "befff9a19c28f84bc18a22d334816174976ce03e6d556b8e2de7b1083ab7482e",
      "location": "tiny_onnx_f32_typed",
      "origin": "initializer 'f32_typed'"
    },
    {
      "name": "f16",
      "dtype": "float16",
      "shape": [
        4
      ],
      "sha256": "3d46ef1d439f296ccc7e1d0ab89825674d6d5337b4f95eee514e2b0ac2cd9fc4",
      "location": "tiny_onnx_f16",
      "origin": "initializer 'f16'"
    },
    {
      "name": "bf16",
      "dtype": "bfloat16",
      "shape": [
        2,
        2
      ],
      "sha256": "1f6aeb1803e9ca22d3ea1d448c9da806baceccf8f79a4ac6b19656a574a60dae",
      "location": "tiny_onnx_bf16",
      "origin": "initializer 'bf16'"
    },
    {
      "name": "i64",
      "dtype": "int64",
      "shape": [
        3
      ],
      "sha256": "a8ccf83e59f471f051bd0a110e1f323a968acca03c96a626e2f4cdf0f7334686",
      "location": "tiny_onnx_i64",
      "origin": "initializer 'i64'"
    },
    {
      "name": "f64",
      "dtype": "float64",
      "shape": [
        3
      ],
      "sha256": "cae00a1e5706ef76cf3bd48824b5922c764aab74ecbb34172402a105fd97cea6",
      "location": "tiny_onnx_f64",
      "origin": "initializer 'f64'"
    },
    {
      "name": "flags",
      "dtype": "bool",
      "shape": [
        3
      ],
      "sha256": "85f90dfea1d8027e1463e5ca971a250110a20df0119d204a74220bc63516d15b",
      "location": "tiny_onnx_flags",
      "origin": "initializer 'flags'"
    },
    {
      "name": "u8",
      "dtype": "uint8",
      "shape": [
        2,
        2
      ],
      "sha256": "d9a7ace546280ba53c4bcfb76d32a7fb49d96230e3d1bc2d24fda70caa636d0b",
      "location": "tiny_onnx_u8",
      "origin": "initializer 'u8'"
    },
    {
      "name": "scalar",
      "dtype": "float32",
      "shape": [],
      "sha256": "33f0e750dcfc67848dd7d044a172a7b67480761bceaebd217740da6bfb0ff5c8",
      "location": "tiny_onnx_scalar",
      "origin": "initializer 'scalar'"
    },
    {
      "name": "empty",
      "dtype": "float32",
      "shape": [
        0,
        3
      ],
      "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "location": "tiny_onnx_empty",
      "origin": "initializer 'empty'"
    }
  ],
  "totals": {
    "tensors": 10,
    "parameters": 46,
    "bytes": 171
  }
}
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               
EXPORTER-MANIFEST-END */
#ifndef TINY_ONNX_H_INCLUDED
#define TINY_ONNX_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <math.h> /* INFINITY */

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every array (at least 16 bytes; define TINY_ONNX_ALIGN to override). */
#ifndef TINY_ONNX_ALIGN
#if defined(__cplusplus) && __cplusplus >= 201103L
#define TINY_ONNX_ALIGN(n) alignas(n)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define TINY_ONNX_ALIGN(n) _Alignas(n)
#elif defined(__GNUC__) || defined(__clang__)
#define TINY_ONNX_ALIGN(n) __attribute__((aligned(n)))
#elif defined(__CC_ARM)
#define TINY_ONNX_ALIGN(n) __align(n)
#elif defined(_MSC_VER)
#define TINY_ONNX_ALIGN(n) __declspec(align(n))
#else
#define TINY_ONNX_ALIGN(n)
#endif
#endif

/* Placement of every array (--c-section, --c-const-progmem). */
#if defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM)
#define TINY_ONNX_ATTRS
#else
#define TINY_ONNX_ATTRS
#endif

/* Storage. By default every array is `static const`: include this header anywhere
   (each file that uses an array gets its own copy). In a project that includes it
   from many files, define TINY_ONNX_EXTERN before every #include and TINY_ONNX_IMPLEMENTATION
   (instead) in exactly one .c/.cpp file: one copy of the data, with external
   linkage, and `extern` declarations everywhere else. */
#if defined(TINY_ONNX_IMPLEMENTATION)
#define TINY_ONNX_DEFINITIONS 1
#ifdef __cplusplus
#define TINY_ONNX_STORAGE extern /* C++ const objects have internal linkage otherwise */
#else
#define TINY_ONNX_STORAGE
#endif
#elif defined(TINY_ONNX_EXTERN)
#define TINY_ONNX_DEFINITIONS 0
#else
#define TINY_ONNX_DEFINITIONS 1
#define TINY_ONNX_STORAGE static
#endif

/* Every array: aligned, const, in the section asked for. */
#define TINY_ONNX_ARRAY(name, type, count, align) \
    TINY_ONNX_ALIGN(align) TINY_ONNX_STORAGE const type name[count] TINY_ONNX_ATTRS

/* Values: float/double as hexadecimal floating constants (exact bits); float16,
   bfloat16 and float8 as uint16_t/uint8_t bit patterns; bool as uint8_t; a float
   tensor holding a NaN as uint32_t/uint64_t bit patterns (C has no portable constant
   for a NaN's payload). The descriptor's dtype names the real type. */

#define TINY_ONNX_F32_RAW_NDIM 2
#define TINY_ONNX_F32_RAW_SIZE 12
#define TINY_ONNX_F32_RAW_SHAPE {3, 4}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_f32_raw, float, 12, 16) = {
 0x1.017ed8p-003f,-0x1.0e8cfep-003f, 0x1.47e57ap-001f, 0x1.adabbep-004f,-0x1.124342p-001f,
 0x1.7245fap-002f, 0x1.4dd2f2p+000f, 0x1.e4e7ccp-001f,-0x1.684ffcp-001f,-0x1.43f2aap+000f,
-0x1.3f1dd4p-001f, 0x1.528adcp-005f,
};
#else
extern const float tiny_onnx_f32_raw[12];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_F32_TYPED_NDIM 2
#define TINY_ONNX_F32_TYPED_SIZE 12
#define TINY_ONNX_F32_TYPED_SHAPE {3, 4}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_f32_typed, float, 12, 16) = {
 0x1.017ed8p-002f,-0x1.0e8cfep-002f, 0x1.47e57ap+000f, 0x1.adabbep-003f,-0x1.124342p+000f,
 0x1.7245fap-001f, 0x1.4dd2f2p+001f, 0x1.e4e7ccp+000f,-0x1.684ffcp+000f,-0x1.43f2aap+001f,
-0x1.3f1dd4p+000f, 0x1.528adcp-004f,
};
#else
extern const float tiny_onnx_f32_typed[12];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_F16_NDIM 1
#define TINY_ONNX_F16_SIZE 4
#define TINY_ONNX_F16_SHAPE {4}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_f16, uint16_t, 4, 16) = {
 0x3e00, 0xc080, 0x7bff, 0x7c00,
};
#else
extern const uint16_t tiny_onnx_f16[4];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_BF16_NDIM 2
#define TINY_ONNX_BF16_SIZE 4
#define TINY_ONNX_BF16_SHAPE {2, 2}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_bf16, uint16_t, 4, 16) = {
 0x3f80, 0xc060, 0x3c00, 0xff80,
};
#else
extern const uint16_t tiny_onnx_bf16[4];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_I64_NDIM 1
#define TINY_ONNX_I64_SIZE 3
#define TINY_ONNX_I64_SHAPE {3}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_i64, int64_t, 3, 16) = {
-0x4000000000000000, 0x0000000000000000, 0x0000000000000007,
};
#else
extern const int64_t tiny_onnx_i64[3];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_F64_NDIM 1
#define TINY_ONNX_F64_SIZE 3
#define TINY_ONNX_F64_SHAPE {3}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_f64, uint64_t, 3, 16) = {
 0x400921fb54442d18, 0x81a56e1fc2f8f359, 0x7ff8000000000000,
};
#else
extern const uint64_t tiny_onnx_f64[3];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_FLAGS_NDIM 1
#define TINY_ONNX_FLAGS_SIZE 3
#define TINY_ONNX_FLAGS_SHAPE {3}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_flags, uint8_t, 3, 16) = {
 0x01, 0x00, 0x01,
};
#else
extern const uint8_t tiny_onnx_flags[3];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_U8_NDIM 2
#define TINY_ONNX_U8_SIZE 4
#define TINY_ONNX_U8_SHAPE {2, 2}
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_u8, uint8_t, 4, 16) = {
 0x00, 0xff, 0x07, 0x80,
};
#else
extern const uint8_t tiny_onnx_u8[4];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_SCALAR_NDIM 0
#define TINY_ONNX_SCALAR_SIZE 1
#define TINY_ONNX_SCALAR_SHAPE {0} /* a scalar: no dimensions */
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_scalar, float, 1, 16) = {
 0x1.a00000p+001f,
};
#else
extern const float tiny_onnx_scalar[1];
#endif /* TINY_ONNX_DEFINITIONS */

#define TINY_ONNX_EMPTY_NDIM 2
#define TINY_ONNX_EMPTY_SIZE 0
#define TINY_ONNX_EMPTY_SHAPE {0, 3}
/* no values: one placeholder element, SIZE is 0 */
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_ARRAY(tiny_onnx_empty, float, 1, 16) = {
 0x0.000000p+000f,
};
#else
extern const float tiny_onnx_empty[1];
#endif /* TINY_ONNX_DEFINITIONS */

/* Every tensor, in the manifest's order: iterate without knowing names. */
typedef struct tiny_onnx_tensor {
    const char *name;    /* canonical name, UTF-8 */
    const char *dtype;   /* manifest dtype: float32, bfloat16, int8, bool, ... */
    const void *data;    /* the values, C order, in the target's byte order */
    size_t nbytes;
    size_t ndim;
    const size_t *shape; /* ndim dimensions */
} tiny_onnx_tensor_t;

#define TINY_ONNX_TENSOR_COUNT 10
#if TINY_ONNX_DEFINITIONS
TINY_ONNX_STORAGE const size_t tiny_onnx_tensor_count = 10;
TINY_ONNX_STORAGE const size_t tiny_onnx_shapes[14] = {3, 4, 3, 4, 4, 2, 2, 3, 3, 3, 2, 2, 0, 3};
TINY_ONNX_STORAGE const tiny_onnx_tensor_t tiny_onnx_tensors[10] = {
    {"f32_raw", "float32", tiny_onnx_f32_raw, 48, 2, tiny_onnx_shapes + 0},
    {"f32_typed", "float32", tiny_onnx_f32_typed, 48, 2, tiny_onnx_shapes + 2},
    {"f16", "float16", tiny_onnx_f16, 8, 1, tiny_onnx_shapes + 4},
    {"bf16", "bfloat16", tiny_onnx_bf16, 8, 2, tiny_onnx_shapes + 5},
    {"i64", "int64", tiny_onnx_i64, 24, 1, tiny_onnx_shapes + 7},
    {"f64", "float64", tiny_onnx_f64, 24, 1, tiny_onnx_shapes + 8},
    {"flags", "bool", tiny_onnx_flags, 3, 1, tiny_onnx_shapes + 9},
    {"u8", "uint8", tiny_onnx_u8, 4, 2, tiny_onnx_shapes + 10},
    {"scalar", "float32", tiny_onnx_scalar, 4, 0, tiny_onnx_shapes + 12},
    {"empty", "float32", tiny_onnx_empty, 0, 2, tiny_onnx_shapes + 12},
};
#else
extern const size_t tiny_onnx_tensor_count;
extern const size_t tiny_onnx_shapes[14];
extern const tiny_onnx_tensor_t tiny_onnx_tensors[10];
#endif

#ifdef __cplusplus
}
#endif

#endif /* TINY_ONNX_H_INCLUDED */
