// A set of axis-aligned rectangles per sample: the parameters of erasing and of the composite.
#pragma once
#include "common.cuh"

// Per-sample record header, followed by `count` boxes of int (y0, x0, y1, x1), half-open.
// Layout owned by dali_regaug.records.RECT_HEADER and rect_set (tests/test_records.py).
struct RectHeader {
  u64 key;      // random key of this sample (fills)
  int count;    // boxes in use
  float w_in;   // composite weight of `a` inside the boxes
  float w_out;  // composite weight of `a` outside them
  int pad;
};
static_assert(sizeof(RectHeader) == 24, "RectHeader: see dali_regaug.records.RECT_HEADER");

// Index of the last box that contains (y, x), or -1: later boxes paint over earlier ones.
__device__ __forceinline__ int last_box(const RectHeader* r, i64 y, i64 x) {
  const int* box = (const int*)(r + 1);
  int hit = -1;
  for (int i = 0; i < r->count; ++i, box += 4)
    if (y >= box[0] && x >= box[1] && y < box[2] && x < box[3]) hit = i;
  return hit;
}
