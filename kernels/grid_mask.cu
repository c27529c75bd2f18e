// GridMask (Chen et al. 2020, "GridMask Data Augmentation", arXiv:2001.04086).
// One launch per batch: blockIdx.y is the sample, a grid-stride loop covers its pixels.
// The mask is evaluated analytically at each output pixel (inverse-rotated into the grid's
// frame), so a rotated grid covers the whole image with no unmasked corners.
#include "common.cuh"

// Per-sample record. Layout owned by dali_regaug.records.GRID_MASK (tests/test_records.py).
struct GridMaskParams {
  u64 key;             // random key of this sample (noise and unit drops)
  int apply;           // 0: the sample passes through unchanged
  int d;               // unit size in pixels
  int keep;            // kept length along each axis of a unit: ceil(r * d)
  int off_x, off_y;    // grid offsets (delta_x, delta_y) in [0, d - 1]
  int reverse;         // 1: keep the squares, drop the rest
  int rotated;         // 0: axis-aligned, integer-only path
  u32 unit_threshold;  // a unit's square is dropped iff its 24-bit hash < this (2^24: always)
  float cos_t, sin_t;  // rotation of the grid about the image centre
  float angle;         // the same rotation in degrees, for people reading the parameters
  int pad;
};
static_assert(sizeof(GridMaskParams) == 56, "GridMaskParams: see dali_regaug.records.GRID_MASK");

// Grid coordinates stay within a few image sides of the origin, so 32-bit integers hold
// them (sides are below 2**29, dali_regaug.validate.MAX_SIDE): a GPU divides 64-bit
// integers in software, many times slower.
__device__ __forceinline__ int floor_div(int a, int b) {
  int q = a / b;
  return (a % b != 0 && (a < 0)) ? q - 1 : q;  // b > 0
}

// Whether pixel (x, y) is dropped; *unit receives the code of the unit it falls in.
__device__ __forceinline__ bool grid_dropped(const GridMaskParams& g, int x, int y, int h, int w,
                                             u64* unit) {
  int gx = x, gy = y;
  if (g.rotated) {
    float cx = (float)w * 0.5f, cy = (float)h * 0.5f;
    float px = ((float)x + 0.5f) - cx, py = ((float)y + 0.5f) - cy;
    gx = (int)floorf((g.cos_t * px + g.sin_t * py) + cx);
    gy = (int)floorf((g.cos_t * py - g.sin_t * px) + cy);
  }
  int ux = floor_div(gx - g.off_x, g.d), uy = floor_div(gy - g.off_y, g.d);
  int lx = gx - g.off_x - ux * g.d, ly = gy - g.off_y - uy * g.d;
  int side = g.d - g.keep;
  *unit = ((u64)(uy & 0xFFFFFF) << 24) | (u64)(ux & 0xFFFFFF);
  bool in_square = lx < side && ly < side;
  if (in_square && g.unit_threshold < (1u << 24))
    in_square = (hash3(g.key, STREAM_UNIT, *unit) >> 40) < (u64)g.unit_threshold;
  return in_square != (g.reverse != 0);
}

template <typename T, bool HWC, typename I>
__device__ void grid_mask(const Sample* table, int nc, int fill_mode, const float* fill) {
  const Sample s = table[blockIdx.y];
  const GridMaskParams g = *(const GridMaskParams*)s.params;
  const T* in = (const T*)s.in;
  T* out = (T*)s.out;
  const I w = (I)s.width, hw = (I)(s.height * s.width);
  for (I p = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; p < hw;
       p += (I)blockDim.x * (I)gridDim.x) {
    I y = p / w, x = p - y * w;
    u64 unit = 0;
    bool drop = g.apply && grid_dropped(g, (int)x, (int)y, (int)s.height, (int)s.width, &unit);
    copy_or_fill<T, HWC, I>(in, out, p, hw, nc, drop, [&](int c) {
      return Elem<T>::store(fill_value<T>(fill_mode, fill, g.key, unit, (u64)p, c));
    });
  }
}

#define GRID_MASK_KERNEL(T, TN, HWC, LN, I, IN)                                            \
  extern "C" __global__ void grid_mask_##TN##_##LN##_##IN(const Sample* table, int nc,     \
                                                          int fill_mode, const float* fill) { \
    grid_mask<T, HWC, I>(table, nc, fill_mode, fill);                                      \
  }
REGAUG_VARIANTS(GRID_MASK_KERNEL)
