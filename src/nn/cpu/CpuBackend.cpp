#include "CpuBackend.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace bsmhunt::nn {

DeviceInfo CpuBackend::info() const {
  DeviceInfo d;
  d.kind = DeviceKind::cpu;
  d.name = "CPU";
  d.libraries = "CBLAS (OpenBLAS on Debian)";
  return d;
}

float* CpuBackend::allocate(std::size_t n) {
  // 64-byte alignment for AVX-512 loads and whole cache lines.
  void* p = std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64 + 64);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}
void CpuBackend::release(float* p) { std::free(p); }
void CpuBackend::upload(const float* host, float* device, std::size_t n) { std::memcpy(device, host, n * sizeof(float)); }
void CpuBackend::download(const float* device, float* host, std::size_t n) {
  std::memcpy(host, device, n * sizeof(float));
}

void CpuBackend::gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                      const float* b, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, ta ? int(m) : int(k), b, tb ? int(k) : int(n), beta, c, int(n));
}

void CpuBackend::bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                                 Activation act, float slope) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    switch (act) {  // the switch outside the inner loop lets it vectorise
      case Activation::relu:
        for (std::size_t j = 0; j < cols; ++j) yr[j] = std::max(xr[j] + bias[j], 0.0f);
        break;
      case Activation::linear:
        for (std::size_t j = 0; j < cols; ++j) yr[j] = xr[j] + bias[j];
        break;
      default:
        for (std::size_t j = 0; j < cols; ++j) yr[j] = activate(xr[j] + bias[j], act, slope);
    }
  }
}

}  // namespace bsmhunt::nn
