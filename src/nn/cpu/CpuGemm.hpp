#pragma once
// The CPU backend's own matrix products for the shapes of dense layers, beside
// OpenBLAS (CpuBackend::gemm chooses). All row-major; C = alpha op(A) op(B) + beta C.

#include <cstddef>
#include <vector>

namespace bsmhunt::nn::cpu_gemm {

// False when BSMHUNT_CPU_GEMM=blas sends every product to the BLAS (for comparisons).
bool own_products_chosen();
// True when own products are chosen and this CPU runs blocked_gemm (AVX2 and FMA).
bool has_blocked_kernels();

// C = alpha op(A) op(B) + beta C in register tiles of 6 rows x 16 columns. Each
// element's sum is one chain of fused multiply-adds over p = 0 .. k-1 from 0, so an
// element has the same bits for any m, any position of its row and any tiling, and
// the same as the scalar chain `s = fmaf(A(i,p), B(p,j), s)`. OpenBLAS does not
// promise that: on an AMD Zen 2 its rows changed with the number of rows in the call
// (k >= 17), so a score depended on the rank count. Returns false, touching nothing,
// where the CPU lacks AVX2/FMA, where OpenBLAS's packed blocking serves the shape
// better (more than 512 output columns; weight gradients over more than 16384 rows,
// as convolutions have), and where a long inner dimension, summed in parts through C,
// meets beta != 0.
bool blocked_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                  const float* b, float beta, float* c, std::vector<float>& scratch);

// n = 1, A not transposed: c[i] = alpha sum_p a[i k + p] v[p] + beta c[i], one dot
// product per row in 16 lanes (the same bits for a row alone or among others).
void rows_dot_vector(std::size_t m, std::size_t k, float alpha, const float* a, const float* v, float beta,
                     float* c);
// n = 1, A transposed: acc[i] = sum_p a[p m + i] v[p].
void weighted_row_sum(std::size_t m, std::size_t k, const float* a, const float* v, float* acc);
// k = 1: c[i n + j] = alpha u[i] v[j] + beta c[i n + j].
void outer_product(std::size_t m, std::size_t n, float alpha, const float* u, const float* v, float beta, float* c);

}  // namespace bsmhunt::nn::cpu_gemm
