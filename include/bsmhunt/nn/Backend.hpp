#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace bsmhunt::nn {

enum class DeviceKind { cpu, cuda };
// Parses "cpu" or "cuda" (the --device option); InputError otherwise.
DeviceKind parse_device(std::string_view name);
std::string_view to_string(DeviceKind kind);

enum class Activation { linear, relu, leaky_relu, tanh, sigmoid };

struct DeviceInfo {
  DeviceKind kind = DeviceKind::cpu;
  std::string name;           // "CPU (OpenBLAS, 2 threads)", "NVIDIA H100 80GB HBM3"
  uint64_t memory_bytes = 0;  // device memory (0 for the host)
  std::string libraries;      // versions of BLAS / CUDA runtime, cuBLAS, NCCL
};

// The numerical primitives of the engine on one device. Buffers are device
// pointers obtained from allocate(); callers never know which device they use
// (no #ifdef CUDA above this interface). Matrices are row-major float32.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceInfo info() const = 0;

  virtual float* allocate(std::size_t n) = 0;
  virtual void release(float* p) = 0;
  virtual void upload(const float* host, float* device, std::size_t n) = 0;
  virtual void download(const float* device, float* host, std::size_t n) = 0;
  virtual void synchronize() = 0;

  // C[m x n] = alpha * op(A) * op(B) + beta * C, op = transpose when the flag is set;
  // A is m x k (k x m if transposed), B is k x n (n x k if transposed).
  virtual void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
                    const float* a, const float* b, float beta, float* c) = 0;
  // y[r, j] = act(x[r, j] + bias[j]): the fused epilogue of a dense layer.
  virtual void bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                               Activation act, float leaky_slope = 0.01f) = 0;
};

// The backend of `kind`. For cuda: throws UnavailableError when this build has no
// CUDA support or no GPU is visible, with the reason.
std::unique_ptr<Backend> make_backend(DeviceKind kind, int device_index = 0);

// Scalar reference of the activations, shared by the CPU backend and the tests.
inline float activate(float x, Activation act, float leaky_slope) {
  switch (act) {
    case Activation::linear: return x;
    case Activation::relu: return x > 0 ? x : 0.0f;
    case Activation::leaky_relu: return x > 0 ? x : leaky_slope * x;
    case Activation::tanh: return std::tanh(x);
    case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-x));
  }
  return x;
}

}  // namespace bsmhunt::nn
