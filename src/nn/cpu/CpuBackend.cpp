#include "CpuBackend.hpp"
#include "CpuGemm.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/nn/DeviceMath.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define BSMHUNT_HAS_MXCSR 1
#endif

namespace bsmhunt::nn {

// Subnormal floats cost ~100 cycles per operation in SSE/AVX arithmetic, and a
// classifier that has learnt makes many: the loss gradients of the events it already
// classifies well, and what they feed in the backward products. The quickstart's
// parametrised MLP ran its sixth epoch 2.4x slower than its first for that reason
// alone (6.6 s against 2.8 s with them flushed, the same losses to the printed
// digits). As TensorFlow and ONNX Runtime do, the host backend sets flush-to-zero and
// denormals-are-zero on its thread while any CpuBackend exists there; the mode the
// thread had comes back with the last one, so the physics of a later stage of
// `bsmhunt run` computes as before. OpenBLAS's own worker threads (more than one BLAS
// thread per rank) keep the default mode: no API reaches them.
namespace {
void select_blas_kernels();  // below, with the reason

// OpenBLAS's name for the kernels it runs; "" for another BLAS (looked up at run time).
std::string openblas_corename() {
  using Name = char* (*)();
  auto* corename = reinterpret_cast<Name>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return corename ? std::string(corename()) : std::string();
}
#ifdef BSMHUNT_HAS_MXCSR
thread_local int live_backends = 0;
thread_local unsigned int mode_before = 0;
constexpr unsigned int kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;  // MXCSR bits FTZ, DAZ
#endif
}  // namespace

CpuBackend::CpuBackend() {
  select_blas_kernels();
#ifdef BSMHUNT_HAS_MXCSR
  if (live_backends++ == 0) {
    mode_before = _mm_getcsr();
    _mm_setcsr(mode_before | kFlushToZero | kDenormalsAreZero);
  }
#endif
}

CpuBackend::~CpuBackend() {
#ifdef BSMHUNT_HAS_MXCSR
  if (--live_backends == 0) _mm_setcsr((_mm_getcsr() & ~(kFlushToZero | kDenormalsAreZero)) |
                                       (mode_before & (kFlushToZero | kDenormalsAreZero)));
#endif
}

// OpenBLAS picks its kernels from the CPU's model number, and Debian 12's 0.3.21 does
// not know the Xeons of 2023-24 (Sapphire and Emerald Rapids, family 6 model 143/207):
// it falls back to its SSE3 "Prescott" kernels, and sgemm ran 2.5x slower than with
// its AVX-512 ones on this project's machine (predict of the quickstart's parametrised
// MLP: 20 against 58 k events/s on one core). Unless the user chose with
// OPENBLAS_CORETYPE, a Prescott pick on a CPU with AVX-512 (or AVX2 and FMA) is
// replaced by OpenBLAS's SkylakeX (Haswell) kernels, through its exported dynamic-arch
// entry points, before the first product. Looked up at run time: Debian's libblas may
// be OpenBLAS or the reference BLAS.
namespace {
void select_blas_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__x86_64__) && defined(__GNUC__)
    using Call = void (*)();
    auto* quit = reinterpret_cast<Call>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
    auto* init = reinterpret_cast<Call>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
    if (!quit || !init || std::getenv("OPENBLAS_CORETYPE")) return;
    const std::string detected = openblas_corename();
    if (detected != "Prescott") return;
    __builtin_cpu_init();
    const char* wanted = nullptr;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      wanted = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      wanted = "Haswell";
    if (!wanted) return;
    setenv("OPENBLAS_CORETYPE", wanted, 0);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");  // child processes detect for themselves
    log::debug("OpenBLAS detected {} on a CPU it does not know; using its {} kernels (OPENBLAS_CORETYPE chooses)",
               detected, openblas_corename());
#endif
  });
}
}  // namespace

std::string cpu_blas_kernels() {
  select_blas_kernels();
  return openblas_corename();
}

void set_cpu_threads(int threads) {
  select_blas_kernels();
  // Looked up at run time: Debian's libblas may be OpenBLAS or the reference BLAS.
  using SetThreads = void (*)(int);
  if (auto* f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(threads);
}

bool cpu_has_own_gemm_kernels() { return cpu_gemm::has_blocked_kernels(); }

DeviceInfo CpuBackend::info() const {
  DeviceInfo d;
  d.kind = DeviceKind::cpu;
  d.name = "CPU";
  const std::string kernels = cpu_blas_kernels();
  d.libraries = kernels.empty() ? "CBLAS" : "OpenBLAS (" + kernels + " kernels)";
  return d;
}

void* CpuBackend::allocate_bytes(std::size_t bytes) {
  // 64-byte alignment for AVX-512 loads and whole cache lines.
  void* p = std::aligned_alloc(64, ((bytes + 63) / 64) * 64 + 64);
  if (!p) throw std::bad_alloc();
  return p;
}
void CpuBackend::release(void* p) { std::free(p); }
void CpuBackend::to_device(const void* host, void* device, std::size_t bytes) {
  if (bytes) std::memcpy(device, host, bytes);
}
void CpuBackend::to_host(const void* device, void* host, std::size_t bytes) {
  if (bytes) std::memcpy(host, device, bytes);
}

void CpuBackend::fill(float* y, std::size_t n, float value) { std::fill(y, y + n, value); }
void CpuBackend::copy(const float* x, float* y, std::size_t n) {
  if (n && x != y) std::memmove(y, x, n * sizeof(float));
}
void CpuBackend::axpy(float alpha, const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}
void CpuBackend::multiply(const float* x, const float* y, float* z, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) z[i] = x[i] * y[i];
}
double CpuBackend::reduce(const float* x, std::size_t n, Reduction kind) {
  double s = 0;
  switch (kind) {
    case Reduction::sum:
      for (std::size_t i = 0; i < n; ++i) s += x[i];
      break;
    case Reduction::sum_abs:
      for (std::size_t i = 0; i < n; ++i) s += std::fabs(double(x[i]));
      break;
    case Reduction::sum_squares:
      for (std::size_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
      break;
  }
  return s;
}

void CpuBackend::gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                      const float* b, float beta, float* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS may not touch C when k = 0; the definition scales it by beta
    for (std::size_t i = 0; i < m * n; ++i) c[i] = beta == 0.f ? 0.f : beta * c[i];
    return;
  }
  // Dense layers' shapes, the single output's (sgemm: 6 GFLOP/s for 4096 x 64 x 1) and
  // the rank-one gradient: the backend's own loops (CpuGemm.hpp), rows independent of m.
  if (cpu_gemm::own_product(ta, tb, m, n, k, alpha, a, b, beta, c, scratch_)) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, ta ? int(m) : int(k), b, tb ? int(k) : int(n), beta, c, int(n));
}

std::size_t CpuBackend::inference_pass_floats() const {
  // 256 KB: a pass's activations stay in L2 (1024 rows of a 64-wide layer). Passes of
  // 256 MB ran the predict of the parametrised quickstart MLP 1.5x slower.
  return std::size_t(1) << 16;
}

// The element-wise loops of a dense layer's step, compiled for AVX-512, AVX2 and the
// baseline (SSE2), chosen at run time: the same operations in every version (FMA
// contraction is off for this file, CMakeLists.txt), so the bits do not depend on the
// one chosen.
namespace {
BSMHUNT_CPU_CLONES void add_bias_relu(const float* x, const float* bias, float* y, std::size_t rows,
                                      std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) y[r * cols + j] = std::max(x[r * cols + j] + bias[j], 0.0f);
}
BSMHUNT_CPU_CLONES void add_bias(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < cols; ++j) y[r * cols + j] = x[r * cols + j] + bias[j];
}
// dy read unconditionally: a branch-free select that vectorises (the conditional read
// was a mispredicted branch per element, half of a training step).
BSMHUNT_CPU_CLONES void relu_backward(const float* y, const float* dy, float* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float d = dy[i];
    dx[i] = y[i] > 0.f ? d : 0.f;
  }
}
BSMHUNT_CPU_CLONES void add_rows(const float* a, std::size_t rows, std::size_t cols, float* out) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) out[c] += a[r * cols + c];
}
}  // namespace

void CpuBackend::bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                                 Activation act, float slope) {
  if (bias && act == Activation::relu) return add_bias_relu(x, bias, y, rows, cols);
  if (bias && act == Activation::linear) return add_bias(x, bias, y, rows, cols);
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    switch (act) {  // the switch outside the inner loop lets it vectorise
      case Activation::relu:
        for (std::size_t j = 0; j < cols; ++j) yr[j] = std::max(xr[j], 0.0f);
        break;
      case Activation::linear:
        for (std::size_t j = 0; j < cols; ++j) yr[j] = xr[j];
        break;
      default:
        for (std::size_t j = 0; j < cols; ++j) yr[j] = activate(xr[j] + (bias ? bias[j] : 0.f), act, slope);
    }
  }
}

void CpuBackend::activation_backward(const float* y, const float* dy, float* dx, std::size_t n, Activation act,
                                     float slope) {
  if (act == Activation::relu) return relu_backward(y, dy, dx, n);
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * activation_derivative(y[i], int(act), slope);
}

void CpuBackend::column_sums(const float* a, const float* b, std::size_t rows, std::size_t cols, float* out,
                             bool accumulate) {
  if (!accumulate) std::fill(out, out + cols, 0.f);
  if (!b) return add_rows(a, rows, cols, out);
  for (std::size_t r = 0; r < rows; ++r) {
    const float* ar = a + r * cols;
    const float* br = b + r * cols;
    for (std::size_t c = 0; c < cols; ++c) out[c] += ar[c] * br[c];
  }
}

void CpuBackend::gather_rows(const float* src, std::size_t cols, const uint32_t* index, std::size_t n, float* dst) {
  // A shuffled batch's rows are cache misses in a shard of ~100 MB: the lines of the
  // row kPrefetchAhead places on are requested while this one is copied (the gather
  // of a 4096 x 25 batch took 0.3 ms, 12% of a training step, waiting on memory).
  // Rows of images (kilobytes) stream by themselves.
  constexpr std::size_t kPrefetchAhead = 16, kPrefetchedRowBytes = 1024;
  if (cols == 1) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[index[i]];
    return;
  }
  const std::size_t row_bytes = cols * sizeof(float);
  for (std::size_t i = 0; i < n; ++i) {
    if (row_bytes <= kPrefetchedRowBytes && i + kPrefetchAhead < n) {
      const char* ahead = reinterpret_cast<const char*>(src + std::size_t(index[i + kPrefetchAhead]) * cols);
      for (std::size_t byte = 0; byte < row_bytes; byte += 64) __builtin_prefetch(ahead + byte);
      __builtin_prefetch(ahead + row_bytes - 1);
    }
    std::memcpy(dst + i * cols, src + std::size_t(index[i]) * cols, row_bytes);
  }
}

void CpuBackend::dropout(const float* x, float* y, float* mask, std::size_t rows, std::size_t cols, float rate,
                         uint64_t key, const uint32_t* row_keys) {
  const float keep_scale = 1.f / (1.f - rate);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      mask[i] = dropout_uniform(key, uint64_t(row_keys[r]) * cols + c) < rate ? 0.f : keep_scale;
      y[i] = x[i] * mask[i];
    }
}

void CpuBackend::loss(const LossParams& p, const float* out, const float* targets, const float* weights,
                      std::size_t rows, std::size_t cols, float grad_scale, float* grad, float* row_loss) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float w = weights ? weights[r] : 1.f;
    const float* z = out + r * cols;
    float* g = grad ? grad + r * cols : nullptr;
    float l = 0;
    switch (p.kind) {
      case LossKind::bce_logits:
      case LossKind::focal: {
        float dz = 0;
        l = binary_loss(int(p.kind), z[0], targets[r], p.label_smoothing, p.focal_gamma, p.focal_alpha, &dz);
        if (g) g[0] = grad_scale * w * dz;
        break;
      }
      case LossKind::softmax_ce: {
        const std::size_t y = std::size_t(targets[r]);
        float zmax = z[0];
        for (std::size_t c = 1; c < cols; ++c) zmax = std::max(zmax, z[c]);
        float se = 0;
        for (std::size_t c = 0; c < cols; ++c) se += std::exp(z[c] - zmax);
        const float lse = zmax + std::log(se);
        const float off = p.label_smoothing / float(cols), on = 1.f - p.label_smoothing + off;
        for (std::size_t c = 0; c < cols; ++c) {
          const float q = c == y ? on : off;
          l -= q * z[c];
          if (g) g[c] = grad_scale * w * (std::exp(z[c] - lse) - q);
        }
        l += lse;
        break;
      }
      case LossKind::mse: {
        const float* t = targets + r * cols;
        for (std::size_t c = 0; c < cols; ++c) {
          const float d = z[c] - t[c];
          l += d * d;
          if (g) g[c] = grad_scale * w * 2.f * d / float(cols);
        }
        l /= float(cols);
        break;
      }
    }
    row_loss[r] = w * l;
  }
}

void CpuBackend::shifted_column_sums(const float* x, const float* shift, std::size_t rows, std::size_t cols,
                                     float* sum, float* sum_squares) {
  std::fill(sum, sum + cols, 0.f);
  std::fill(sum_squares, sum_squares + cols, 0.f);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const float d = x[r * cols + c] - shift[c];
      sum[c] += d;
      sum_squares[c] += d * d;
    }
}

void CpuBackend::batchnorm_statistics(const float* sum, const float* sum_squares, const float* shift, double count,
                                      std::size_t cols, float eps, float momentum, float* mean, float* inv_std,
                                      float* running_mean, float* running_var) {
  for (std::size_t c = 0; c < cols; ++c) {
    const double d = double(sum[c]) / count;
    const double m = double(shift[c]) + d;
    const double var = std::max(double(sum_squares[c]) / count - d * d, 0.0);
    mean[c] = float(m);
    inv_std[c] = float(1.0 / std::sqrt(var + eps));
    const double unbiased = count > 1 ? var * count / (count - 1) : var;
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * float(m);
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * float(unbiased);
  }
}

void CpuBackend::batchnorm_normalize(const float* x, const float* mean, const float* inv_std, const float* gamma,
                                     const float* beta, std::size_t rows, std::size_t cols, float* xhat, float* y) {
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      const float h = (x[i] - mean[c]) * inv_std[c];
      if (xhat) xhat[i] = h;
      y[i] = gamma[c] * h + beta[c];
    }
}

void CpuBackend::batchnorm_backward(const float* dy, const float* xhat, const float* inv_std, const float* gamma,
                                    const float* sum_dy, const float* sum_dy_xhat, double count, std::size_t rows,
                                    std::size_t cols, float* dx) {
  const float n = float(count);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      const std::size_t i = r * cols + c;
      dx[i] = gamma[c] * inv_std[c] / n * (n * dy[i] - sum_dy[c] - xhat[i] * sum_dy_xhat[c]);
    }
}

void CpuBackend::add_regularization_gradient(const float* w, float* g, std::size_t n, float l1, float l2) {
  for (std::size_t i = 0; i < n; ++i) g[i] += l1 * float((w[i] > 0.f) - (w[i] < 0.f)) + 2.f * l2 * w[i];
}

void CpuBackend::adam_update(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float beta1,
                             float beta2, float eps, float weight_decay, bool decoupled, uint64_t step) {
  const float c1 = 1.f / (1.f - std::pow(beta1, float(step)));
  const float c2 = 1.f / (1.f - std::pow(beta2, float(step)));
  for (std::size_t i = 0; i < n; ++i) {
    const float gi = decoupled ? g[i] : g[i] + weight_decay * w[i];
    m[i] = beta1 * m[i] + (1.f - beta1) * gi;
    v[i] = beta2 * v[i] + (1.f - beta2) * gi * gi;
    const float wi = decoupled ? w[i] * (1.f - lr * weight_decay) : w[i];
    w[i] = wi - lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
  }
}

void CpuBackend::sgd_update(float* w, const float* g, float* velocity, std::size_t n, float lr, float momentum,
                            float weight_decay, bool nesterov) {
  for (std::size_t i = 0; i < n; ++i) {
    const float gi = g[i] + weight_decay * w[i];
    velocity[i] = momentum * velocity[i] + gi;
    w[i] -= lr * (nesterov ? gi + momentum * velocity[i] : velocity[i]);
  }
}

}  // namespace bsmhunt::nn

// ---------------------------------------------------------------- convolutions
// NHWC images, one per row. im2col turns a group of images into a matrix with one
// row per output pixel and one column per (ky, kx, ci) of the window, so that the
// convolution of the group is one GEMM with the weights (out x window). Groups are
// sized so that the column matrix stays near 16 M floats whatever the image size.

namespace bsmhunt::nn {

namespace {

constexpr std::size_t kColumnBudget = 1 << 24;

std::size_t window_size(const Conv2dShape& s) { return s.kernel * s.kernel * s.in_channels; }
std::size_t pixels_out(const Conv2dShape& s) { return s.out_height() * s.out_width(); }
// A 1x1 convolution with stride 1 and no padding is a GEMM on the input itself.
bool is_pointwise(const Conv2dShape& s) { return s.kernel == 1 && s.stride == 1 && s.pad == 0; }

std::size_t group_size(const Conv2dShape& s, std::size_t images) {
  return std::max<std::size_t>(1, std::min(images, kColumnBudget / std::max<std::size_t>(1, pixels_out(s) * window_size(s))));
}

void im2col(const Conv2dShape& s, const float* x, std::size_t images, float* col) {
  const std::size_t Ho = s.out_height(), Wo = s.out_width(), C = s.in_channels, K = s.kernel, win = window_size(s);
  for (std::size_t n = 0; n < images; ++n) {
    const float* img = x + n * s.input_size();
    for (std::size_t oy = 0; oy < Ho; ++oy)
      for (std::size_t ox = 0; ox < Wo; ++ox) {
        float* row = col + ((n * Ho + oy) * Wo + ox) * win;
        for (std::size_t ky = 0; ky < K; ++ky) {
          const std::ptrdiff_t iy = std::ptrdiff_t(oy * s.stride + ky) - std::ptrdiff_t(s.pad);
          for (std::size_t kx = 0; kx < K; ++kx) {
            const std::ptrdiff_t ix = std::ptrdiff_t(ox * s.stride + kx) - std::ptrdiff_t(s.pad);
            float* dst = row + (ky * K + kx) * C;
            if (iy < 0 || ix < 0 || iy >= std::ptrdiff_t(s.height) || ix >= std::ptrdiff_t(s.width))
              std::fill(dst, dst + C, 0.0f);
            else
              std::memcpy(dst, img + (std::size_t(iy) * s.width + std::size_t(ix)) * C, C * sizeof(float));
          }
        }
      }
  }
}

// dx += the window columns scattered back to their pixels (dx zeroed by the caller).
void col2im(const Conv2dShape& s, const float* col, std::size_t images, float* dx) {
  const std::size_t Ho = s.out_height(), Wo = s.out_width(), C = s.in_channels, K = s.kernel, win = window_size(s);
  for (std::size_t n = 0; n < images; ++n) {
    float* img = dx + n * s.input_size();
    for (std::size_t oy = 0; oy < Ho; ++oy)
      for (std::size_t ox = 0; ox < Wo; ++ox) {
        const float* row = col + ((n * Ho + oy) * Wo + ox) * win;
        for (std::size_t ky = 0; ky < K; ++ky) {
          const std::ptrdiff_t iy = std::ptrdiff_t(oy * s.stride + ky) - std::ptrdiff_t(s.pad);
          if (iy < 0 || iy >= std::ptrdiff_t(s.height)) continue;
          for (std::size_t kx = 0; kx < K; ++kx) {
            const std::ptrdiff_t ix = std::ptrdiff_t(ox * s.stride + kx) - std::ptrdiff_t(s.pad);
            if (ix < 0 || ix >= std::ptrdiff_t(s.width)) continue;
            const float* src = row + (ky * K + kx) * C;
            float* dst = img + (std::size_t(iy) * s.width + std::size_t(ix)) * C;
            for (std::size_t c = 0; c < C; ++c) dst[c] += src[c];
          }
        }
      }
  }
}

}  // namespace

void CpuBackend::conv2d_forward(const Conv2dShape& s, const float* x, const float* w, float* y, std::size_t images) {
  const std::size_t win = window_size(s), P = pixels_out(s), G = group_size(s, images);
  for (std::size_t n0 = 0; n0 < images; n0 += G) {
    const std::size_t g = std::min(G, images - n0);
    const float* a = x + n0 * s.input_size();
    if (!is_pointwise(s)) {
      columns_.resize(g * P * win);
      im2col(s, a, g, columns_.data());
      a = columns_.data();
    }
    gemm(false, true, g * P, s.out_channels, win, 1.0f, a, w, 0.0f, y + n0 * s.output_size());  // y = col W^T
  }
}

void CpuBackend::conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                      std::size_t images) {
  const std::size_t win = window_size(s), P = pixels_out(s), G = group_size(s, images);
  for (std::size_t n0 = 0; n0 < images; n0 += G) {
    const std::size_t g = std::min(G, images - n0);
    float* out = dx + n0 * s.input_size();
    if (is_pointwise(s)) {
      gemm(false, false, g * P, win, s.out_channels, 1.0f, dy + n0 * s.output_size(), w, 0.0f, out);
      continue;
    }
    columns_.resize(g * P * win);
    gemm(false, false, g * P, win, s.out_channels, 1.0f, dy + n0 * s.output_size(), w, 0.0f, columns_.data());
    std::fill(out, out + g * s.input_size(), 0.0f);
    col2im(s, columns_.data(), g, out);
  }
}

void CpuBackend::conv2d_backward_filter(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                        std::size_t images) {
  const std::size_t win = window_size(s), P = pixels_out(s), G = group_size(s, images);
  if (images == 0) std::fill(dw, dw + s.weight_size(), 0.0f);
  for (std::size_t n0 = 0; n0 < images; n0 += G) {
    const std::size_t g = std::min(G, images - n0);
    const float* a = x + n0 * s.input_size();
    if (!is_pointwise(s)) {
      columns_.resize(g * P * win);
      im2col(s, a, g, columns_.data());
      a = columns_.data();
    }
    // dW (out x win) (+)= dy^T (out x pixels) col (pixels x win), groups in order.
    gemm(true, false, s.out_channels, win, g * P, 1.0f, dy + n0 * s.output_size(), a, n0 == 0 ? 0.0f : 1.0f, dw);
  }
}

void CpuBackend::maxpool_forward(const Pool2dShape& s, const float* x, float* y, std::size_t images) {
  const std::size_t Ho = s.out_height(), Wo = s.out_width(), C = s.channels, k = s.size;
  for (std::size_t n = 0; n < images; ++n) {
    const float* img = x + n * s.height * s.width * C;
    float* out = y + n * Ho * Wo * C;
    for (std::size_t oy = 0; oy < Ho; ++oy)
      for (std::size_t ox = 0; ox < Wo; ++ox) {
        float* dst = out + (oy * Wo + ox) * C;
        std::memcpy(dst, img + (oy * k * s.width + ox * k) * C, C * sizeof(float));
        for (std::size_t ky = 0; ky < k; ++ky)
          for (std::size_t kx = 0; kx < k; ++kx) {
            const float* src = img + ((oy * k + ky) * s.width + ox * k + kx) * C;
            for (std::size_t c = 0; c < C; ++c) dst[c] = std::max(dst[c], src[c]);
          }
      }
  }
}

void CpuBackend::maxpool_backward(const Pool2dShape& s, const float* x, const float* y, const float* dy, float* dx,
                                  std::size_t images) {
  const std::size_t Ho = s.out_height(), Wo = s.out_width(), C = s.channels, k = s.size;
  std::fill(dx, dx + images * s.height * s.width * C, 0.0f);
  for (std::size_t n = 0; n < images; ++n) {
    const float* img = x + n * s.height * s.width * C;
    float* grad = dx + n * s.height * s.width * C;
    const std::size_t o = n * Ho * Wo * C;
    for (std::size_t oy = 0; oy < Ho; ++oy)
      for (std::size_t ox = 0; ox < Wo; ++ox)
        for (std::size_t c = 0; c < C; ++c) {
          const std::size_t out = o + (oy * Wo + ox) * C + c;
          bool routed = false;
          for (std::size_t ky = 0; ky < k && !routed; ++ky)
            for (std::size_t kx = 0; kx < k && !routed; ++kx) {
              const std::size_t at = ((oy * k + ky) * s.width + ox * k + kx) * C + c;
              if (img[at] == y[out]) grad[at] += dy[out], routed = true;
            }
        }
  }
}

}  // namespace bsmhunt::nn
