// CUDA backend: cuBLAS for GEMMs, own kernels for the fused element-wise ops.
// Each kernel has its CPU reference in cpu/CpuBackend.cpp; tests/nn compares them.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nccl.h>

#include "CudaEntry.hpp"
#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::nn {
namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(fmt::format("CUDA error in {}: {}", what, cudaGetErrorString(e)));
}
void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(fmt::format("cuBLAS error {} in {}", int(s), what));
}

__device__ float activate_device(float x, int act, float slope) {
  switch (act) {
    case int(Activation::relu): return x > 0.f ? x : 0.f;
    case int(Activation::leaky_relu): return x > 0.f ? x : slope * x;
    case int(Activation::tanh): return tanhf(x);
    case int(Activation::sigmoid): return 1.f / (1.f + expf(-x));
    default: return x;
  }
}

__global__ void bias_activation_kernel(const float* __restrict__ x, const float* __restrict__ bias,
                                       float* __restrict__ y, size_t rows, size_t cols, int act, float slope) {
  const size_t n = rows * cols;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    y[i] = activate_device(x[i] + bias[i % cols], act, slope);
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
      throw UnavailableError(fmt::format("--device cuda: no CUDA device is visible ({})",
                                         e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount returned 0"));
    if (device < 0 || device >= count)
      throw UnavailableError(fmt::format("--device cuda: device {} requested but {} visible", device, count));
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
    check_cublas(cublasCreate(&blas_), "cublasCreate");
    check_cublas(cublasSetStream(blas_, stream_), "cublasSetStream");
  }
  ~CudaBackend() override {
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  DeviceInfo info() const override {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, device_);
    int runtime = 0, blas_version = 0, nccl_version = 0;
    cudaRuntimeGetVersion(&runtime);
    cublasGetVersion(blas_, &blas_version);
    ncclGetVersion(&nccl_version);
    DeviceInfo d;
    d.kind = DeviceKind::cuda;
    d.name = prop.name;
    d.memory_bytes = prop.totalGlobalMem;
    d.libraries = fmt::format("CUDA runtime {}, cuBLAS {}, NCCL {}", runtime, blas_version, nccl_version);
    return d;
  }

  float* allocate(std::size_t n) override {
    float* p = nullptr;
    check_cuda(cudaMalloc(&p, n * sizeof(float)), "cudaMalloc");
    return p;
  }
  void release(float* p) override { cudaFree(p); }
  void upload(const float* host, float* device, std::size_t n) override {
    check_cuda(cudaMemcpyAsync(device, host, n * sizeof(float), cudaMemcpyHostToDevice, stream_), "upload");
    check_cuda(cudaStreamSynchronize(stream_), "upload");
  }
  void download(const float* device, float* host, std::size_t n) override {
    check_cuda(cudaMemcpyAsync(host, device, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "download");
    check_cuda(cudaStreamSynchronize(stream_), "download");
  }
  void synchronize() override { check_cuda(cudaStreamSynchronize(stream_), "synchronize"); }

  void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
            const float* b, float beta, float* c) override {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    check_cublas(cublasSgemm(blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(n), int(m),
                             int(k), &alpha, b, tb ? int(k) : int(n), a, ta ? int(m) : int(k), &beta, c, int(n)),
                 "cublasSgemm");
  }

  void bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                       Activation act, float slope) override {
    const size_t n = rows * cols;
    if (n == 0) return;
    const int threads = 256;
    const int blocks = int(std::min<size_t>((n + threads - 1) / threads, 65535));
    bias_activation_kernel<<<blocks, threads, 0, stream_>>>(x, bias, y, rows, cols, int(act), slope);
    check_cuda(cudaGetLastError(), "bias_activation_kernel");
  }

 private:
  int device_;
  cudaStream_t stream_{};
  cublasHandle_t blas_{};
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device_index) { return std::make_unique<CudaBackend>(device_index); }

}  // namespace bsmhunt::nn
