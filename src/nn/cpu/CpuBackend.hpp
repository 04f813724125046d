#pragma once
#include <vector>
#include "bsmhunt/nn/Backend.hpp"

namespace bsmhunt::nn {

// Host backend: OpenBLAS sgemm and loops the compiler vectorises. It is also the
// reference every CUDA kernel is compared with (tests/nn/BackendTest.cpp).
class CpuBackend final : public Backend {
 public:
  // Flushes subnormal floats to zero on this thread while a CpuBackend exists (see .cpp).
  CpuBackend();
  ~CpuBackend() override;
  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;
  DeviceInfo info() const override;
  void* allocate_bytes(std::size_t bytes) override;
  void release(void* p) override;
  void to_device(const void* host, void* device, std::size_t bytes) override;
  void to_host(const void* device, void* host, std::size_t bytes) override;
  void synchronize() override {}
  bool uses_host_memory() const override { return true; }
  std::size_t inference_pass_floats() const override;

  void fill(float* y, std::size_t n, float value) override;
  void copy(const float* x, float* y, std::size_t n) override;
  void axpy(float alpha, const float* x, float* y, std::size_t n) override;
  void multiply(const float* x, const float* y, float* z, std::size_t n) override;
  double reduce(const float* x, std::size_t n, Reduction kind) override;
  void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
            const float* a, const float* b, float beta, float* c) override;
  void bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                       Activation act, float leaky_slope) override;
  void activation_backward(const float* y, const float* dy, float* dx, std::size_t n, Activation act,
                           float leaky_slope) override;
  void column_sums(const float* a, const float* b, std::size_t rows, std::size_t cols, float* out,
                   bool accumulate) override;
  void gather_rows(const float* src, std::size_t cols, const uint32_t* index, std::size_t n, float* dst) override;
  void dropout(const float* x, float* y, float* mask, std::size_t rows, std::size_t cols, float rate, uint64_t key,
               const uint32_t* row_keys) override;
  void loss(const LossParams& params, const float* out, const float* targets, const float* weights,
            std::size_t rows, std::size_t cols, float grad_scale, float* grad, float* row_loss) override;
  void shifted_column_sums(const float* x, const float* shift, std::size_t rows, std::size_t cols, float* sum,
                           float* sum_squares) override;
  void batchnorm_statistics(const float* sum, const float* sum_squares, const float* shift, double count,
                            std::size_t cols, float eps, float momentum, float* mean, float* inv_std,
                            float* running_mean, float* running_var) override;
  void batchnorm_normalize(const float* x, const float* mean, const float* inv_std, const float* gamma,
                           const float* beta, std::size_t rows, std::size_t cols, float* xhat, float* y) override;
  void batchnorm_backward(const float* dy, const float* xhat, const float* inv_std, const float* gamma,
                          const float* sum_dy, const float* sum_dy_xhat, double count, std::size_t rows,
                          std::size_t cols, float* dx) override;
  void add_regularization_gradient(const float* w, float* g, std::size_t n, float l1, float l2) override;
  void adam_update(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float beta1, float beta2,
                   float eps, float weight_decay, bool decoupled, uint64_t step) override;
  void sgd_update(float* w, const float* g, float* velocity, std::size_t n, float lr, float momentum,
                  float weight_decay, bool nesterov) override;
  void conv2d_forward(const Conv2dShape& shape, const float* x, const float* w, float* y, std::size_t images) override;
  void conv2d_backward_data(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                            std::size_t images) override;
  void conv2d_backward_filter(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                              std::size_t images) override;
  void maxpool_forward(const Pool2dShape& shape, const float* x, float* y, std::size_t images) override;
  void maxpool_backward(const Pool2dShape& shape, const float* x, const float* y, const float* dy, float* dx,
                        std::size_t images) override;

 private:
  std::vector<float> columns_;  // im2col scratch of a group of images
  std::vector<float> scratch_;  // gemm's packed B^T, or the sums of a one-column A^T v
};

}  // namespace bsmhunt::nn
