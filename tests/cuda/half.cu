// Test kernel for the emulator: the device float <-> float16 conversions of common.cuh.
#include "common.cuh"

extern "C" __global__ void to_half(const float* x, u16* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = float_to_half(x[i]);
}

extern "C" __global__ void from_half(const u16* x, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = half_to_float(x[i]);
}

extern "C" __global__ void out_of_bounds(const float* x, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = x[i];  // deliberate off-by-one, for the AddressSanitizer check
}

extern "C" __global__ void misaligned(const unsigned char* x, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  // deliberate: a float read one byte past an aligned address, for the alignment check
  if (i < n) out[i] = *(const float*)(x + 4 * i + 1);
}
