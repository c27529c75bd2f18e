// Shared device code for the dali-regaug kernels.
//
// Compiled three ways from this one source: by NVRTC (CuPy's RawModule on a GPU, and the
// compile test), and by the system C++ compiler behind dali_regaug/emulator/cuda_shim.h.
// So it uses no CUDA headers and no standard library: plain C++ and the math builtins the
// shim also provides. Build with --fmad=false (NVRTC) / -ffp-contract=off (g++) so float
// expressions round exactly as NumPy's float32 operations do.
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;

// One row of the launch table. Layout owned by dali_regaug.records.TABLE (checked by
// tests/test_records.py).
struct Sample {
  const void* in;      // source image (`a` for the composite)
  const void* in2;     // second source (`b`), composite only
  void* out;           // destination, same shape as `in`
  const void* params;  // this sample's parameter record
  i64 height;
  i64 width;
};
static_assert(sizeof(Sample) == 48, "Sample: see dali_regaug.records.TABLE");

// Random streams: owned by dali_regaug.records.STREAM_* (checked by tests/test_records.py).
#define STREAM_PIXEL 0ull
#define STREAM_REGION 1ull
#define STREAM_UNIT 2ull

// splitmix64's finaliser: a bijective 64-bit mixer.
__device__ __forceinline__ u64 mix64(u64 z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Counter-based hash of (key, stream, counter); counter < 2^56.
__device__ __forceinline__ u64 hash3(u64 key, u64 stream, u64 counter) {
  return mix64(key ^ mix64((stream << 56) | counter));
}

// N(0, 1) by Box-Muller from two 24-bit uniforms of one hash.
__device__ __forceinline__ float hash_normal(u64 h) {
  float u1 = (float)((h >> 40) + 1ull) * 5.9604644775390625e-08f;  // (0, 1]
  float u2 = (float)((h >> 16) & 0xFFFFFFull) * 5.9604644775390625e-08f;  // [0, 1)
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831854820251465f * u2);
}

// Fill modes: owned by dali_regaug.records.FILL_* (checked by tests/test_records.py).
#define FILL_VALUES 0  // constant per channel: values[c]
#define FILL_REGION 1  // one random value per channel per region
#define FILL_PIXEL 2   // per-pixel noise

// The fill of channel c: uint8 data gets U{0..255}, float data N(0, 1).
template <typename T>
__device__ __forceinline__ float fill_value(int mode, const float* values, u64 key, u64 region,
                                            u64 pixel, int c) {
  if (mode == FILL_VALUES) return values[c];
  u64 h = mode == FILL_REGION ? hash3(key, STREAM_REGION, (region << 8) | (u64)c)
                              : hash3(key, STREAM_PIXEL, (pixel << 8) | (u64)c);
  return sizeof(T) == 1 ? (float)(h >> 56) : hash_normal(h);
}

// float32 -> float16 bits, round to nearest even (as NumPy's astype).
__device__ __forceinline__ u16 float_to_half(float f) {
  u32 x = __float_as_uint(f);
  u32 sign = (x >> 16) & 0x8000u;
  u32 mag = x & 0x7FFFFFFFu;
  if (mag >= 0x7F800000u) return (u16)(sign | 0x7C00u | (mag > 0x7F800000u ? 0x200u : 0u));
  if (mag >= 0x477FF000u) return (u16)(sign | 0x7C00u);  // rounds to >= 65520: infinity
  if (mag < 0x38800000u) {  // result is subnormal or zero
    if (mag < 0x33000000u) return (u16)sign;  // below half the smallest subnormal
    u32 shift = 126u - (mag >> 23);  // value = mant * 2^-shift in units of 2^-24
    u32 mant = (mag & 0x7FFFFFu) | 0x800000u;
    u32 q = mant >> shift;
    u32 rem = mant & ((1u << shift) - 1u);
    u32 half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q += 1u;
    return (u16)(sign | q);
  }
  u32 q = (mag - 0x38000000u) >> 13;
  u32 rem = mag & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q += 1u;
  return (u16)(sign | q);
}

// float16 bits -> float32 (exact).
__device__ __forceinline__ float half_to_float(u16 h) {
  u32 sign = ((u32)h & 0x8000u) << 16;
  u32 e = ((u32)h >> 10) & 0x1Fu;
  u32 m = (u32)h & 0x3FFu;
  if (e == 0x1Fu) return __uint_as_float(sign | 0x7F800000u | (m << 13));
  if (e != 0u) return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
  float v = (float)m * 5.9604644775390625e-08f;  // m * 2^-24, exact
  return sign ? -v : v;
}

// Element storage: uint8 is stored as u8, float16 as its bits (u16), float32 as float.
template <typename T> struct Elem;
template <> struct Elem<u8> {
  __device__ static __forceinline__ u8 store(float v) {
    return (u8)rintf(fminf(fmaxf(v, 0.0f), 255.0f));
  }
  __device__ static __forceinline__ float load(u8 v) { return (float)v; }
};
template <> struct Elem<u16> {
  __device__ static __forceinline__ u16 store(float v) { return float_to_half(v); }
  __device__ static __forceinline__ float load(u16 v) { return half_to_float(v); }
};
template <> struct Elem<float> {
  __device__ static __forceinline__ float store(float v) { return v; }
  __device__ static __forceinline__ float load(float v) { return v; }
};

// Address of channel c of pixel p in an image of hw pixels and nc channels.
template <bool HWC, typename I>
__device__ __forceinline__ I elem_index(I p, int c, I hw, int nc) {
  return HWC ? p * (I)nc + (I)c : (I)c * hw + p;
}

// Channels move CHANNEL_CHUNK at a time, the chunk's loads issued before any of its stores:
// the output may be the input itself, so the compiler would otherwise wait for each load
// before the next one (one memory latency per channel instead of one per chunk).
#define CHANNEL_CHUNK 4

// Pixel p's channels from `in`, or fill(c) for every channel of a dropped pixel.
template <typename T, bool HWC, typename I, typename Fill>
__device__ __forceinline__ void copy_or_fill(const T* in, T* out, I p, I hw, int nc, bool drop,
                                             Fill fill) {
  for (int c0 = 0; c0 < nc; c0 += CHANNEL_CHUNK) {
    T v[CHANNEL_CHUNK];
#pragma unroll
    for (int k = 0; k < CHANNEL_CHUNK; ++k)
      if (!drop && c0 + k < nc) v[k] = in[elem_index<HWC, I>(p, c0 + k, hw, nc)];
#pragma unroll
    for (int k = 0; k < CHANNEL_CHUNK; ++k)
      if (c0 + k < nc) out[elem_index<HWC, I>(p, c0 + k, hw, nc)] = drop ? fill(c0 + k) : v[k];
  }
}

// Stamps M(T, TN, HWC, LN, I, IN) for each dtype x layout x index variant; the kernel name
// carries the variant as <op>_<dtype>_<layout>_<index>.
#define REGAUG_VARIANTS(M)                                                   \
  M(u8, u8, true, hwc, int, i32) M(u8, u8, true, hwc, i64, i64)              \
  M(u8, u8, false, chw, int, i32) M(u8, u8, false, chw, i64, i64)            \
  M(u16, f16, true, hwc, int, i32) M(u16, f16, true, hwc, i64, i64)          \
  M(u16, f16, false, chw, int, i32) M(u16, f16, false, chw, i64, i64)        \
  M(float, f32, true, hwc, int, i32) M(float, f32, true, hwc, i64, i64)      \
  M(float, f32, false, chw, int, i32) M(float, f32, false, chw, i64, i64)
