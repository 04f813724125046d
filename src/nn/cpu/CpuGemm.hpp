#pragma once
// The CPU backend's own matrix products for the shapes of dense layers, beside
// OpenBLAS (CpuBackend::gemm chooses). All row-major; C = alpha op(A) op(B) + beta C.

#include <cstddef>
#include <vector>

namespace bsmhunt::nn::cpu_gemm {

// True when own products are chosen (not BSMHUNT_CPU_GEMM=blas, which sends every
// product to the BLAS for comparisons) and this CPU has AVX2 and FMA.
bool has_blocked_kernels();

// C = alpha op(A) op(B) + beta C with the backend's own loops where it has them;
// false, touching nothing, where the BLAS is to compute it.
// - k = 1 (rank one) and n = 1 (one output column): plain loops; a one-column row is
//   one dot product in 16 lanes, the same bits alone or among other rows.
// - Otherwise register tiles of 6 rows x 32 columns (AVX-512, where the CPU has it and
//   BSMHUNT_CPU_GEMM=avx2 does not ask otherwise) and 6 x 16 (AVX2 and FMA). Each element's sum
//   is one chain of fused multiply-adds over p = 0 .. k-1 from 0, so an element has the
//   same bits for any m, any position of its row and any tiling, and the same as the
//   scalar chain `s = fmaf(A(i,p), B(p,j), s)`. OpenBLAS does not promise that: on an
//   AMD Zen 2 its rows changed with the number of rows in the call (k >= 17), so a score
//   depended on the rank count. Left to the BLAS where OpenBLAS's packed blocking serves
//   the shape better (more than 512 output columns; weight gradients over more than
//   16384 rows, as convolutions have) and where a long inner dimension, summed in parts
//   through C, meets beta != 0.
// scratch holds a packed B^T or a one-column A^T v's sums.
bool own_product(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                 const float* b, float beta, float* c, std::vector<float>& scratch);

// Loops of the CPU backend built for AVX-512, AVX2 and the baseline, chosen at run time.
#if defined(__x86_64__) && defined(__GNUC__)
#define BSMHUNT_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BSMHUNT_CPU_CLONES
#endif

}  // namespace bsmhunt::nn::cpu_gemm
