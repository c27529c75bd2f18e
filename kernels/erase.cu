// Rectangle erasing: Random Erasing (Zhong et al. 2017) and Cutout (DeVries & Taylor 2017)
// differ only in how the host places the boxes; this kernel fills them.
#include "rectset.cuh"

template <typename T, bool HWC, typename I>
__device__ void erase(const Sample* table, int nc, int fill_mode, const float* fill) {
  const Sample s = table[blockIdx.y];
  const RectHeader* r = (const RectHeader*)s.params;
  const u64 key = r->key;
  const T* in = (const T*)s.in;
  T* out = (T*)s.out;
  const I w = (I)s.width, hw = (I)(s.height * s.width);
  for (I p = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; p < hw;
       p += (I)blockDim.x * (I)gridDim.x) {
    I y = p / w, x = p - y * w;
    int hit = last_box(r, y, x);
    copy_or_fill<T, HWC, I>(in, out, p, hw, nc, hit >= 0, [&](int c) {
      return Elem<T>::store(fill_value<T>(fill_mode, fill, key, (u64)hit, (u64)p, c));
    });
  }
}

#define ERASE_KERNEL(T, TN, HWC, LN, I, IN)                                              \
  extern "C" __global__ void erase_##TN##_##LN##_##IN(const Sample* table, int nc,       \
                                                      int fill_mode, const float* fill) { \
    erase<T, HWC, I>(table, nc, fill_mode, fill);                                        \
  }
REGAUG_VARIANTS(ERASE_KERNEL)
