#pragma once
#include "bsmhunt/nn/Backend.hpp"

namespace bsmhunt::nn {

// Host backend: OpenBLAS sgemm and vectorisable loops.
class CpuBackend final : public Backend {
 public:
  DeviceInfo info() const override;
  float* allocate(std::size_t n) override;
  void release(float* p) override;
  void upload(const float* host, float* device, std::size_t n) override;
  void download(const float* device, float* host, std::size_t n) override;
  void synchronize() override {}
  void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
            const float* a, const float* b, float beta, float* c) override;
  void bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                       Activation act, float leaky_slope) override;
};

}  // namespace bsmhunt::nn
