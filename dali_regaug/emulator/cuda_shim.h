// Lets the system C++ compiler build the dali-regaug CUDA sources for the CPU emulator.
//
// Kernels run block by block. Within a block, threads run one after another, or, for
// kernels that call __syncthreads, one OS thread per CUDA thread meeting at a barrier.
// __shared__ becomes a function-local static: one copy, used by one block at a time.
#pragma once
#include <barrier>
#include <math.h>  // floorf, rintf, logf, ... in the global namespace, as in CUDA
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
typedef dim3 uint3;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict

static dim3 gridDim, blockDim;
static thread_local dim3 blockIdx, threadIdx;
static thread_local std::barrier<>* emu_block_barrier = nullptr;

inline void __syncthreads() {
  if (!emu_block_barrier) {
    std::fprintf(stderr, "cuda_shim: __syncthreads in a sequential launch\n");
    std::abort();
  }
  emu_block_barrier->arrive_and_wait();
}

inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Calls kernel k with its arguments unpacked from args, as cudaLaunchKernel does.
template <class... A, std::size_t... I>
inline void emu_call(void (*k)(A...), void** args, std::index_sequence<I...>) {
  k(*static_cast<std::remove_reference_t<A>*>(args[I])...);
}

template <class... A>
int emu_launch(void (*k)(A...), dim3 grid, dim3 block, void** args, int threaded) {
  gridDim = grid;
  blockDim = block;
  const auto seq = std::index_sequence_for<A...>{};
  const unsigned nthreads = block.x * block.y * block.z;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        const dim3 b{bx, by, bz};
        if (!threaded) {
          blockIdx = b;
          for (unsigned t = 0; t < nthreads; ++t) {
            threadIdx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            emu_call(k, args, seq);
          }
          continue;
        }
        std::barrier<> bar(nthreads);
        std::vector<std::thread> pool;
        pool.reserve(nthreads);
        for (unsigned t = 0; t < nthreads; ++t)
          pool.emplace_back([&, t] {
            blockIdx = b;
            threadIdx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            emu_block_barrier = &bar;
            emu_call(k, args, seq);
            bar.arrive_and_drop();  // a finished thread no longer holds the others back
          });
        for (auto& th : pool) th.join();
      }
  return 0;
}

// Exports kernel `name` as `emu_<name>(grid, block, args, threaded)` for ctypes.
#define REGAUG_EMU_EXPORT(name)                                                  \
  extern "C" int emu_##name(dim3 grid, dim3 block, void** args, int threaded) { \
    return emu_launch(&name, grid, block, args, threaded);                     \
  }
