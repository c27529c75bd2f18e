// Two-source composite out = M * a + (1 - M) * b, with M = w_in inside the sample's boxes and
// w_out outside. CutMix pastes a box (w_in = 1, w_out = 0), MixUp blends (no box, w_out = lam),
// KeepAugment's selective paste restores a box from the original.
#include "rectset.cuh"

template <typename T, bool HWC, typename I>
__device__ void composite(const Sample* table, int nc) {
  const Sample s = table[blockIdx.y];
  const RectHeader* r = (const RectHeader*)s.params;
  const T* a = (const T*)s.in;
  const T* b = (const T*)s.in2;
  T* out = (T*)s.out;
  const I w = (I)s.width, hw = (I)(s.height * s.width);
  for (I p = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; p < hw;
       p += (I)blockDim.x * (I)gridDim.x) {
    I y = p / w, x = p - y * w;
    float m = last_box(r, y, x) >= 0 ? r->w_in : r->w_out;
    // a chunk's loads before its stores (out may be a: see CHANNEL_CHUNK)
    for (int c0 = 0; c0 < nc; c0 += CHANNEL_CHUNK) {
      T va[CHANNEL_CHUNK], vb[CHANNEL_CHUNK];
#pragma unroll
      for (int k = 0; k < CHANNEL_CHUNK; ++k) {
        if (c0 + k >= nc) continue;
        I e = elem_index<HWC, I>(p, c0 + k, hw, nc);
        if (m != 0.0f) va[k] = a[e];
        if (m != 1.0f) vb[k] = b[e];
      }
#pragma unroll
      for (int k = 0; k < CHANNEL_CHUNK; ++k) {
        if (c0 + k >= nc) continue;
        out[elem_index<HWC, I>(p, c0 + k, hw, nc)] =
            m == 1.0f   ? va[k]
            : m == 0.0f ? vb[k]
                        : Elem<T>::store(m * Elem<T>::load(va[k]) +
                                         (1.0f - m) * Elem<T>::load(vb[k]));
      }
    }
  }
}

#define COMPOSITE_KERNEL(T, TN, HWC, LN, I, IN)                                                \
  extern "C" __global__ void composite_##TN##_##LN##_##IN(const Sample* table, int nc) {       \
    composite<T, HWC, I>(table, nc);                                                           \
  }
REGAUG_VARIANTS(COMPOSITE_KERNEL)
