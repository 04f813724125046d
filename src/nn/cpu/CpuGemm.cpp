#include "CpuGemm.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BSMHUNT_BLOCKED_GEMM 1
#endif

namespace bsmhunt::nn::cpu_gemm {


namespace {
// BSMHUNT_CPU_GEMM, read once: "blas" (every product to the BLAS) or "avx2" (no
// AVX-512 tiles), for comparisons; "" otherwise.
std::string_view requested_gemm() {
  static const char* choice = std::getenv("BSMHUNT_CPU_GEMM");
  return choice ? std::string_view(choice) : std::string_view();
}
// False when BSMHUNT_CPU_GEMM=blas sends every product to the BLAS.
bool own_products_chosen() { return requested_gemm() != "blas"; }
}  // namespace

#ifdef BSMHUNT_BLOCKED_GEMM
namespace {
// Beyond these OpenBLAS, which packs its operands, is faster (train_bench, cnn_bench):
// the B columns of a tile no longer stay in L2 between row tiles, or a weight
// gradient's k x m part of A does not.
constexpr std::size_t kMaxOuter = 512;              // n, and m of a weight gradient
constexpr std::size_t kMaxInnerOfGradient = 16384;  // k (the batch) of a weight gradient A^T B
constexpr std::size_t kTileRows = 6;

// A(i, p) = a[i row_stride + p inner_stride]: plain or transposed without a copy.
struct Lhs {
  const float* a;
  std::size_t row_stride, inner_stride;
};

// Stores alpha acc (+ beta c) to 8 columns of c, all of them or the first `width`.
__attribute__((target("avx2,fma"))) inline void store8(float* c, __m256 acc, __m256 alpha, __m256 beta, bool use_beta,
                                                       bool masked, __m256i mask) {
  __m256 out = _mm256_mul_ps(alpha, acc);
  if (use_beta) {
    const __m256 old = masked ? _mm256_maskload_ps(c, mask) : _mm256_loadu_ps(c);
    out = _mm256_add_ps(out, _mm256_mul_ps(beta, old));
  }
  if (masked)
    _mm256_maskstore_ps(c, mask, out);
  else
    _mm256_storeu_ps(c, out);
}

// The part p0 <= p < p1 of a product's inner dimension, and where its chains start:
// from 0, or from the sums of the parts before it (stored unscaled in C).
struct Span {
  std::size_t p0, p1;
  bool resume;
};

// R rows x 16 columns of C, every element a chain of FMAs over p in order.
template <int R>
__attribute__((target("avx2,fma"))) void tile16(const Lhs& lhs, std::size_t i0, const float* b, std::size_t ldb,
                                                const Span& span, float* c, std::size_t ldc, __m256 alpha, __m256 beta,
                                                bool use_beta) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    lo[r] = span.resume ? _mm256_loadu_ps(c + (i0 + r) * ldc) : _mm256_setzero_ps();
    hi[r] = span.resume ? _mm256_loadu_ps(c + (i0 + r) * ldc + 8) : _mm256_setzero_ps();
  }
  const float* a0 = lhs.a + i0 * lhs.row_stride;
  for (std::size_t p = span.p0; p < span.p1; ++p) {
    const __m256 b_lo = _mm256_loadu_ps(b + p * ldb), b_hi = _mm256_loadu_ps(b + p * ldb + 8);
    const float* ap = a0 + p * lhs.inner_stride;
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(ap + r * lhs.row_stride);
      lo[r] = _mm256_fmadd_ps(x, b_lo, lo[r]);
      hi[r] = _mm256_fmadd_ps(x, b_hi, hi[r]);
    }
  }
  const __m256i all = _mm256_set1_epi32(-1);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    store8(c + (i0 + r) * ldc, lo[r], alpha, beta, use_beta, false, all);
    store8(c + (i0 + r) * ldc + 8, hi[r], alpha, beta, use_beta, false, all);
  }
}

// R rows x the first `width` (1..8) of 8 columns; B and C are read only there.
template <int R>
__attribute__((target("avx2,fma"))) void tile8(const Lhs& lhs, std::size_t i0, const float* b, std::size_t ldb,
                                               const Span& span, float* c, std::size_t ldc, __m256 alpha, __m256 beta,
                                               bool use_beta, std::size_t width) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(width)), lanes);
  const bool masked = width < 8;
  __m256 acc[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
    acc[r] = !span.resume ? _mm256_setzero_ps()
             : masked     ? _mm256_maskload_ps(c + (i0 + r) * ldc, mask)
                          : _mm256_loadu_ps(c + (i0 + r) * ldc);
  const float* a0 = lhs.a + i0 * lhs.row_stride;
  for (std::size_t p = span.p0; p < span.p1; ++p) {
    const __m256 bp = masked ? _mm256_maskload_ps(b + p * ldb, mask) : _mm256_loadu_ps(b + p * ldb);
    const float* ap = a0 + p * lhs.inner_stride;
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(ap + r * lhs.row_stride), bp, acc[r]);
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) store8(c + (i0 + r) * ldc, acc[r], alpha, beta, use_beta, masked, mask);
}

// Stores alpha acc (+ beta c) to 16 columns of c: store8's operations lane by lane
// (no contraction in this file, CMakeLists.txt), so the same bits.
__attribute__((target("avx512f,avx2,fma"))) inline void store16(float* c, __m512 acc, __m512 alpha, __m512 beta,
                                                                bool use_beta) {
  __m512 out = _mm512_mul_ps(alpha, acc);
  if (use_beta) out = _mm512_add_ps(out, _mm512_mul_ps(beta, _mm512_loadu_ps(c)));
  _mm512_storeu_ps(c, out);
}

// R rows x 32 columns of C with AVX-512 (two 16-lane registers a row): the same
// chains of FMAs as tile16, so the same bits, with half the broadcasts of A per FMA.
template <int R>
__attribute__((target("avx512f,avx2,fma"))) void tile32(const Lhs& lhs, std::size_t i0, const float* b,
                                                        std::size_t ldb, const Span& span, float* c, std::size_t ldc,
                                                        float alpha, float beta, bool use_beta) {
  __m512 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    lo[r] = span.resume ? _mm512_loadu_ps(c + (i0 + r) * ldc) : _mm512_setzero_ps();
    hi[r] = span.resume ? _mm512_loadu_ps(c + (i0 + r) * ldc + 16) : _mm512_setzero_ps();
  }
  const float* a0 = lhs.a + i0 * lhs.row_stride;
  for (std::size_t p = span.p0; p < span.p1; ++p) {
    const __m512 b_lo = _mm512_loadu_ps(b + p * ldb), b_hi = _mm512_loadu_ps(b + p * ldb + 16);
    const float* ap = a0 + p * lhs.inner_stride;
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(ap[r * lhs.row_stride]);
      lo[r] = _mm512_fmadd_ps(x, b_lo, lo[r]);
      hi[r] = _mm512_fmadd_ps(x, b_hi, hi[r]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    store16(c + (i0 + r) * ldc, lo[r], va, vb, use_beta);
    store16(c + (i0 + r) * ldc + 16, hi[r], va, vb, use_beta);
  }
}

template <int R>
__attribute__((target("avx2,fma"))) void tile_row(const Lhs& lhs, std::size_t i0, const float* b, std::size_t n,
                                                  const Span& span, float* c, __m256 alpha, __m256 beta,
                                                  float alpha_value, float beta_value, bool use_beta, bool wide) {
  std::size_t j = 0;
  if (wide)
    for (; j + 32 <= n; j += 32) tile32<R>(lhs, i0, b + j, n, span, c + j, n, alpha_value, beta_value, use_beta);
  for (; j + 16 <= n; j += 16) tile16<R>(lhs, i0, b + j, n, span, c + j, n, alpha, beta, use_beta);
  for (; j < n; j += 8)
    tile8<R>(lhs, i0, b + j, n, span, c + j, n, alpha, beta, use_beta, std::min<std::size_t>(8, n - j));
}

// AVX-512 tiles where the CPU has them, unless BSMHUNT_CPU_GEMM=avx2 asks for the
// 16-column tiles only (the benchmark's A/B; the bits are the same).
bool wide_tiles() {
  static const bool yes = [] {
    if (requested_gemm() == "avx2") return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return yes;
}

__attribute__((target("avx2,fma"))) void blocked_span(const Lhs& lhs, std::size_t m, std::size_t n, const Span& span,
                                                      float alpha, const float* b, float beta, float* c) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const bool use_beta = beta != 0.f;  // beta = 0: C is not read (it may hold NaN)
  const bool wide = wide_tiles();
  std::size_t i = 0;
  for (; i + kTileRows <= m; i += kTileRows) tile_row<6>(lhs, i, b, n, span, c, va, vb, alpha, beta, use_beta, wide);
  switch (m - i) {
    case 5: tile_row<5>(lhs, i, b, n, span, c, va, vb, alpha, beta, use_beta, wide); break;
    case 4: tile_row<4>(lhs, i, b, n, span, c, va, vb, alpha, beta, use_beta, wide); break;
    case 3: tile_row<3>(lhs, i, b, n, span, c, va, vb, alpha, beta, use_beta, wide); break;
    case 2: tile_row<2>(lhs, i, b, n, span, c, va, vb, alpha, beta, use_beta, wide); break;
    case 1: tile_row<1>(lhs, i, b, n, span, c, va, vb, alpha, beta, use_beta, wide); break;
    default: break;
  }
}

// A long inner dimension is summed in parts whose operands stay in L2 while every
// tile of C passes over them: a weight gradient A^T B over the batch (k of 4096 and
// more; one pass over all k per tile read 23 MB from L3 for a 64 x 64 layer) in parts
// of 256, a wide input layer in parts of 512. The chains continue from part to part
// through C unscaled, so the bits are those of one pass.
constexpr std::size_t kGradientSpan = 256, kInputSpan = 512;

std::size_t span_of(bool transposed) { return transposed ? kGradientSpan : kInputSpan; }

void blocked(const Lhs& lhs, bool transposed, std::size_t m, std::size_t n, std::size_t k, float alpha,
             const float* b, float beta, float* c) {
  const std::size_t span = span_of(transposed);
  if (k <= span) return blocked_span(lhs, m, n, {0, k, false}, alpha, b, beta, c);
  for (std::size_t p0 = 0; p0 < k; p0 += span) {
    const std::size_t p1 = std::min(k, p0 + span);
    const bool last = p1 == k;
    blocked_span(lhs, m, n, {p0, p1, p0 > 0}, last ? alpha : 1.f, b, last ? beta : 0.f, c);
  }
}
}  // namespace

bool has_blocked_kernels() {
  static const bool yes = [] {
    if (!own_products_chosen()) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes;
}

namespace {
bool blocked_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                  const float* b, float beta, float* c, std::vector<float>& scratch) {
  if (!has_blocked_kernels() || n > kMaxOuter) return false;
  if (ta && (m > kMaxOuter || k > kMaxInnerOfGradient)) return false;
  // Parts are summed through C itself, which beta != 0 still needs (OpenBLAS).
  if (k > span_of(ta) && beta != 0.f) return false;
  if (tb) {  // B^T packed to k x n, so that a tile's 16 columns are one load per p
    scratch.resize(k * n);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t p = 0; p < k; ++p) scratch[p * n + j] = b[j * k + p];
    b = scratch.data();
  }
  const Lhs lhs = ta ? Lhs{a, 1, m} : Lhs{a, k, 1};
  blocked(lhs, ta, m, n, k, alpha, b, beta, c);
  return true;
}
}  // namespace
#else
bool has_blocked_kernels() { return false; }
namespace {
bool blocked_gemm(bool, bool, std::size_t, std::size_t, std::size_t, float, const float*, const float*, float, float*,
                  std::vector<float>&) {
  return false;
}
}  // namespace
#endif

// The one-column and rank-one products: compiled for AVX-512, AVX2 and the baseline,
// chosen at run time (GCC; clang before 18 always runs the baseline), without FMA
// contraction (CMakeLists.txt), so every version gives the same bits. Each output's
// sum is in a fixed order that does not depend on m.
namespace {
constexpr std::size_t kLanes = 16;

// n = 1, A not transposed: c[i] = alpha sum_p a[i k + p] v[p] + beta c[i], one dot
// product per row in 16 lanes.
BSMHUNT_CPU_CLONES void rows_dot_vector(std::size_t m, std::size_t k, float alpha, const float* a, const float* v,
                                        float beta, float* c) {
  const std::size_t whole = k - k % kLanes;
  for (std::size_t i = 0; i < m; ++i) {
    const float* ai = a + i * k;
    float lane[kLanes] = {};
    for (std::size_t p = 0; p < whole; p += kLanes)
      for (std::size_t l = 0; l < kLanes; ++l) lane[l] += ai[p + l] * v[p + l];
    for (std::size_t p = whole; p < k; ++p) lane[p - whole] += ai[p] * v[p];
    for (std::size_t width = kLanes / 2; width > 0; width /= 2)
      for (std::size_t l = 0; l < width; ++l) lane[l] += lane[l + width];
    c[i] = beta == 0.f ? alpha * lane[0] : alpha * lane[0] + beta * c[i];
  }
}

// n = 1, A transposed: c[i] = alpha sum_p a[p m + i] v[p] + beta c[i], the sums in acc.
BSMHUNT_CPU_CLONES void weighted_row_sum(std::size_t m, std::size_t k, float alpha, const float* a, const float* v,
                                         float beta, float* c, float* acc) {
  std::fill(acc, acc + m, 0.f);
  for (std::size_t p = 0; p < k; ++p) {
    const float* ap = a + p * m;
    const float vp = v[p];
    for (std::size_t i = 0; i < m; ++i) acc[i] += ap[i] * vp;
  }
  for (std::size_t i = 0; i < m; ++i) c[i] = beta == 0.f ? alpha * acc[i] : alpha * acc[i] + beta * c[i];
}

// k = 1: c[i n + j] = alpha u[i] v[j] + beta c[i n + j].
BSMHUNT_CPU_CLONES void outer_product(std::size_t m, std::size_t n, float alpha, const float* u, const float* v,
                                      float beta, float* c) {
  for (std::size_t i = 0; i < m; ++i) {
    float* ci = c + i * n;
    const float s = alpha * u[i];
    if (beta == 0.f)
      for (std::size_t j = 0; j < n; ++j) ci[j] = s * v[j];
    else
      for (std::size_t j = 0; j < n; ++j) ci[j] = s * v[j] + beta * ci[j];
  }
}
}  // namespace

bool own_product(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                 const float* b, float beta, float* c, std::vector<float>& scratch) {
  if (!own_products_chosen()) return false;
  // With n = 1 or k = 1, B (and with k = 1 also A) is a plain vector in either layout.
  if (k == 1) return outer_product(m, n, alpha, a, b, beta, c), true;
  if (n == 1 && !ta) return rows_dot_vector(m, k, alpha, a, b, beta, c), true;
  if (n == 1) {
    scratch.resize(m);
    weighted_row_sum(m, k, alpha, a, b, beta, c, scratch.data());
    return true;
  }
  return blocked_gemm(ta, tb, m, n, k, alpha, a, b, beta, c, scratch);
}

}  // namespace bsmhunt::nn::cpu_gemm
