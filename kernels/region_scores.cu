// Region scores for saliency-guided placement (KeepAugment, Gong et al. 2021, Eq. 1): for
// every pixel, the sum of the map over the region centred on it, clipped at the border
// (Cutout's and CutMix's candidate regions), from a summed-area table.
//
// One block per sample (launch with one block along x): row prefix sums, column prefix
// sums, then four corners per pixel. Maps are uint8 and sums int, so the result is exact
// in any order and equals the NumPy path bit for bit.
#include "common.cuh"

// Per-sample record. Layout owned by dali_regaug.records.SCORES (tests/test_records.py).
struct ScoreParams {
  int height;  // region size in pixels
  int width;
  i64 offset;  // start of this sample's table in `sat` (height * width ints)
};
static_assert(sizeof(ScoreParams) == 16, "ScoreParams: see dali_regaug.records.SCORES");

// Sum over rows [0, a) and columns [0, b) from the inclusive prefix table t.
template <typename I>
__device__ __forceinline__ int corner(const int* t, I a, I b, I w) {
  return a > 0 && b > 0 ? t[(a - 1) * w + (b - 1)] : 0;
}

template <typename I>
__device__ __forceinline__ I clamp_index(I v, I hi) {
  return v < 0 ? 0 : (v > hi ? hi : v);
}

template <typename I>
__device__ void region_scores(const Sample* table, int* sat) {
  const Sample s = table[blockIdx.y];
  const ScoreParams* r = (const ScoreParams*)s.params;
  const u8* map = (const u8*)s.in;
  int* out = (int*)s.out;
  int* t = sat + r->offset;
  const I h = (I)s.height, w = (I)s.width, step = (I)blockDim.x;
  for (I y = (I)threadIdx.x; y < h; y += step) {
    int acc = 0;
    for (I x = 0; x < w; ++x) {
      acc += map[y * w + x];
      t[y * w + x] = acc;
    }
  }
  __syncthreads();
  for (I x = (I)threadIdx.x; x < w; x += step)
    for (I y = 1; y < h; ++y) t[y * w + x] += t[(y - 1) * w + x];
  __syncthreads();
  const I rh = (I)r->height, rw = (I)r->width;
  for (I p = (I)threadIdx.x; p < h * w; p += step) {
    I y = p / w, x = p - y * w;
    I y0 = clamp_index<I>(y - rh / 2, h), y1 = clamp_index<I>(y - rh / 2 + rh, h);
    I x0 = clamp_index<I>(x - rw / 2, w), x1 = clamp_index<I>(x - rw / 2 + rw, w);
    out[p] = corner<I>(t, y1, x1, w) - corner<I>(t, y0, x1, w) - corner<I>(t, y1, x0, w) +
             corner<I>(t, y0, x0, w);
  }
}

#define REGION_SCORES_KERNEL(I, IN)                                                      \
  extern "C" __global__ void region_scores_u8_hwc_##IN(const Sample* table, int nc,      \
                                                       int* sat) {                       \
    region_scores<I>(table, sat);                                                        \
  }
REGION_SCORES_KERNEL(int, i32)
REGION_SCORES_KERNEL(i64, i64)
