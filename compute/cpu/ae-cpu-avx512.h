/* ae-cpu-avx512.h: what the AVX-512 kernels of compute/cpu and
 * compute/train share. Include only under x86-64 GCC or Clang. */
#pragma once

#include <immintrin.h>

#define AE_TARGET_AVX512 __attribute__ ((target ("avx512f,avx2,fma")))

/* The first @n lanes (none for n <= 0). */
static inline __mmask16
ae_lanes (int n)
{
  return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16) ((1u << n) - 1);
}
