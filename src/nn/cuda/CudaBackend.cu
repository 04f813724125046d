// CUDA backend: cuBLAS for GEMMs, own kernels for everything else. Each kernel has
// its CPU reference in cpu/CpuBackend.cpp (the scalar maths is shared through
// DeviceMath.hpp); tests/nn/BackendTest.cpp compares them op by op where a GPU is
// visible. Reductions use a fixed tree per block, so results are deterministic.
#include <cublas_v2.h>
#include <cudnn.h>
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>

#include "CudaEntry.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/DeviceMath.hpp"

namespace bsmhunt::nn {
namespace {

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(fmt::format("CUDA error in {}: {}", what, cudaGetErrorString(e)));
}
void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(fmt::format("cuBLAS error {} in {}", int(s), what));
}

void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw Error(fmt::format("cuDNN error in {}: {}", what, cudnnGetErrorString(s)));
}

constexpr int kThreads = 256;
int blocks_for(size_t n) { return int(std::min<size_t>((n + kThreads - 1) / kThreads, 65535)); }

#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < (n); i += size_t(gridDim.x) * blockDim.x)

__device__ float activate_device(float x, int act, float slope) {
  switch (act) {
    case int(Activation::relu): return x > 0.f ? x : 0.f;
    case int(Activation::leaky_relu): return x > 0.f ? x : slope * x;
    case int(Activation::tanh): return tanhf(x);
    case int(Activation::sigmoid): return 1.f / (1.f + expf(-x));
    default: return x;
  }
}

__global__ void fill_kernel(float* y, size_t n, float v) { GRID_STRIDE(i, n) y[i] = v; }
__global__ void axpy_kernel(float a, const float* x, float* y, size_t n) { GRID_STRIDE(i, n) y[i] += a * x[i]; }
__global__ void multiply_kernel(const float* x, const float* y, float* z, size_t n) { GRID_STRIDE(i, n) z[i] = x[i] * y[i]; }

// One block; each thread sums a strided slice in double, then a fixed tree.
__global__ void reduce_kernel(const float* x, size_t n, int kind, double* out) {
  __shared__ double partial[1024];
  double s = 0;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double v = x[i];
    s += kind == int(Reduction::sum) ? v : (kind == int(Reduction::sum_abs) ? fabs(v) : v * v);
  }
  partial[threadIdx.x] = s;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = partial[0];
}

__global__ void bias_activation_kernel(const float* __restrict__ x, const float* __restrict__ bias,
                                       float* __restrict__ y, size_t rows, size_t cols, int act, float slope) {
  GRID_STRIDE(i, rows * cols) y[i] = activate_device(x[i] + (bias ? bias[i % cols] : 0.f), act, slope);
}

__global__ void activation_backward_kernel(const float* y, const float* dy, float* dx, size_t n, int act, float slope) {
  GRID_STRIDE(i, n) dx[i] = dy[i] * activation_derivative(y[i], act, slope);
}

// One block per column: strided partial sums over rows, then a fixed tree.
__global__ void column_sums_kernel(const float* a, const float* b, size_t rows, size_t cols, float* out, bool accumulate) {
  __shared__ float partial[kThreads];
  const size_t c = blockIdx.x;
  float s = 0;
  for (size_t r = threadIdx.x; r < rows; r += blockDim.x) s += a[r * cols + c] * (b ? b[r * cols + c] : 1.f);
  partial[threadIdx.x] = s;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[c] = accumulate ? out[c] + partial[0] : partial[0];
}

__global__ void gather_rows_kernel(const float* src, size_t cols, const uint32_t* index, size_t n, float* dst) {
  GRID_STRIDE(i, n * cols) dst[i] = src[size_t(index[i / cols]) * cols + i % cols];
}

__global__ void dropout_kernel(const float* x, float* y, float* mask, size_t rows, size_t cols, float rate,
                               uint64_t key, const uint32_t* row_keys) {
  const float keep_scale = 1.f / (1.f - rate);
  GRID_STRIDE(i, rows * cols) {
    const size_t r = i / cols, c = i % cols;
    mask[i] = dropout_uniform(key, uint64_t(row_keys[r]) * cols + c) < rate ? 0.f : keep_scale;
    y[i] = x[i] * mask[i];
  }
}

// One thread per row.
__global__ void loss_kernel(int kind, float smoothing, float gamma, float alpha, const float* out,
                            const float* targets, const float* weights, size_t rows, size_t cols, float grad_scale,
                            float* grad, float* row_loss) {
  GRID_STRIDE(r, rows) {
    const float w = weights ? weights[r] : 1.f;
    const float* z = out + r * cols;
    float* g = grad ? grad + r * cols : nullptr;
    float l = 0;
    if (kind == int(LossKind::bce_logits) || kind == int(LossKind::focal)) {
      float dz = 0;
      l = binary_loss(kind, z[0], targets[r], smoothing, gamma, alpha, &dz);
      if (g) g[0] = grad_scale * w * dz;
    } else if (kind == int(LossKind::softmax_ce)) {
      const size_t y = size_t(targets[r]);
      float zmax = z[0];
      for (size_t c = 1; c < cols; ++c) zmax = fmaxf(zmax, z[c]);
      float se = 0;
      for (size_t c = 0; c < cols; ++c) se += expf(z[c] - zmax);
      const float lse = zmax + logf(se);
      const float off = smoothing / float(cols), on = 1.f - smoothing + off;
      for (size_t c = 0; c < cols; ++c) {
        const float q = c == y ? on : off;
        l -= q * z[c];
        if (g) g[c] = grad_scale * w * (expf(z[c] - lse) - q);
      }
      l += lse;
    } else {
      const float* t = targets + r * cols;
      for (size_t c = 0; c < cols; ++c) {
        const float d = z[c] - t[c];
        l += d * d;
        if (g) g[c] = grad_scale * w * 2.f * d / float(cols);
      }
      l /= float(cols);
    }
    row_loss[r] = w * l;
  }
}

// One block per column, as column_sums_kernel.
__global__ void shifted_column_sums_kernel(const float* x, const float* shift, size_t rows, size_t cols, float* sum,
                                           float* sum_squares) {
  __shared__ float partial[kThreads], partial_sq[kThreads];
  const size_t c = blockIdx.x;
  float s = 0, q = 0;
  for (size_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const float d = x[r * cols + c] - shift[c];
    s += d, q += d * d;
  }
  partial[threadIdx.x] = s, partial_sq[threadIdx.x] = q;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      partial[threadIdx.x] += partial[threadIdx.x + stride];
      partial_sq[threadIdx.x] += partial_sq[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) sum[c] = partial[0], sum_squares[c] = partial_sq[0];
}

__global__ void batchnorm_statistics_kernel(const float* sum, const float* sum_squares, const float* shift,
                                            double count, size_t cols, float eps, float momentum, float* mean,
                                            float* inv_std, float* running_mean, float* running_var) {
  GRID_STRIDE(c, cols) {
    const double d = double(sum[c]) / count;
    const double m = double(shift[c]) + d;
    const double var = fmax(double(sum_squares[c]) / count - d * d, 0.0);
    mean[c] = float(m);
    inv_std[c] = float(1.0 / sqrt(var + eps));
    const double unbiased = count > 1 ? var * count / (count - 1) : var;
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * float(m);
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * float(unbiased);
  }
}

__global__ void batchnorm_normalize_kernel(const float* x, const float* mean, const float* inv_std,
                                           const float* gamma, const float* beta, size_t rows, size_t cols,
                                           float* xhat, float* y) {
  GRID_STRIDE(i, rows * cols) {
    const size_t c = i % cols;
    const float h = (x[i] - mean[c]) * inv_std[c];
    if (xhat) xhat[i] = h;
    y[i] = gamma[c] * h + beta[c];
  }
}

__global__ void batchnorm_backward_kernel(const float* dy, const float* xhat, const float* inv_std,
                                          const float* gamma, const float* sum_dy, const float* sum_dy_xhat,
                                          float n, size_t rows, size_t cols, float* dx) {
  GRID_STRIDE(i, rows * cols) {
    const size_t c = i % cols;
    dx[i] = gamma[c] * inv_std[c] / n * (n * dy[i] - sum_dy[c] - xhat[i] * sum_dy_xhat[c]);
  }
}

__global__ void regularization_kernel(const float* w, float* g, size_t n, float l1, float l2) {
  GRID_STRIDE(i, n) g[i] += l1 * float((w[i] > 0.f) - (w[i] < 0.f)) + 2.f * l2 * w[i];
}

__global__ void adam_kernel(float* w, const float* g, float* m, float* v, size_t n, float lr, float beta1,
                            float beta2, float eps, float weight_decay, bool decoupled, float c1, float c2) {
  GRID_STRIDE(i, n) {
    const float gi = decoupled ? g[i] : g[i] + weight_decay * w[i];
    m[i] = beta1 * m[i] + (1.f - beta1) * gi;
    v[i] = beta2 * v[i] + (1.f - beta2) * gi * gi;
    const float wi = decoupled ? w[i] * (1.f - lr * weight_decay) : w[i];
    w[i] = wi - lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
  }
}

__global__ void sgd_kernel(float* w, const float* g, float* velocity, size_t n, float lr, float momentum,
                           float weight_decay, bool nesterov) {
  GRID_STRIDE(i, n) {
    const float gi = g[i] + weight_decay * w[i];
    velocity[i] = momentum * velocity[i] + gi;
    w[i] -= lr * (nesterov ? gi + momentum * velocity[i] : velocity[i]);
  }
}

// Max-pooling of NHWC images; backward routes each output's gradient to the first
// maximum of its window (windows do not overlap: stride == size), as the CPU does.
__global__ void maxpool_forward_kernel(const float* x, float* y, size_t images, size_t H, size_t W, size_t C, size_t k) {
  const size_t Ho = H / k, Wo = W / k, n = images * Ho * Wo * C;
  GRID_STRIDE(i, n) {
    const size_t c = i % C, ox = (i / C) % Wo, oy = (i / (C * Wo)) % Ho, img = i / (C * Wo * Ho);
    const float* base = x + img * H * W * C;
    float m = base[(oy * k * W + ox * k) * C + c];
    for (size_t ky = 0; ky < k; ++ky)
      for (size_t kx = 0; kx < k; ++kx) m = fmaxf(m, base[((oy * k + ky) * W + ox * k + kx) * C + c]);
    y[i] = m;
  }
}

__global__ void maxpool_backward_kernel(const float* x, const float* y, const float* dy, float* dx, size_t images,
                                        size_t H, size_t W, size_t C, size_t k) {
  const size_t Ho = H / k, Wo = W / k, n = images * Ho * Wo * C;
  GRID_STRIDE(i, n) {
    const size_t c = i % C, ox = (i / C) % Wo, oy = (i / (C * Wo)) % Ho, img = i / (C * Wo * Ho);
    const size_t base = img * H * W * C;
    bool routed = false;
    for (size_t ky = 0; ky < k && !routed; ++ky)
      for (size_t kx = 0; kx < k && !routed; ++kx) {
        const size_t at = base + ((oy * k + ky) * W + ox * k + kx) * C + c;
        if (x[at] == y[i]) dx[at] += dy[i], routed = true;
      }
  }
}

// cuDNN's descriptors of one convolution over `images` NHWC images (KRSC weights).
struct ConvDescriptors {
  cudnnTensorDescriptor_t x{}, y{};
  cudnnFilterDescriptor_t w{};
  cudnnConvolutionDescriptor_t conv{};
  ConvDescriptors(const Conv2dShape& s, size_t images) {
    check_cudnn(cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor");
    check_cudnn(cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor");
    check_cudnn(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, int(images), int(s.in_channels),
                                           int(s.height), int(s.width)),
                "input descriptor");
    check_cudnn(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, int(images), int(s.out_channels),
                                           int(s.out_height()), int(s.out_width())),
                "output descriptor");
    check_cudnn(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, int(s.out_channels),
                                           int(s.in_channels), int(s.kernel), int(s.kernel)),
                "filter descriptor");
    check_cudnn(cudnnSetConvolution2dDescriptor(conv, int(s.pad), int(s.pad), int(s.stride), int(s.stride), 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                "convolution descriptor");
    // Full float32 arithmetic: no TF32 unless asked for, so the CPU reference agrees.
    check_cudnn(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
  }
  ~ConvDescriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
};

// The fastest deterministic algorithm cuDNN proposes (reproducible training needs one).
template <typename Perf>
auto first_deterministic(const Perf* perf, int count, const char* what) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC) return perf[i];
  throw Error(fmt::format("cuDNN offers no deterministic algorithm for the {}", what));
}

class CudaBackend final : public Backend {
 public:
  // `device` is the rank's index on its node; with one visible GPU per rank (Slurm
  // --gpus-per-task, --gpu-bind) every rank sees device 0, hence the modulo.
  explicit CudaBackend(int device) : device_(device) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
      throw UnavailableError(fmt::format("--device cuda: no CUDA device is visible ({})",
                                         e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount returned 0"));
    if (device < 0) throw UnavailableError(fmt::format("--device cuda: device index {} is negative", device));
    device_ = device % count;
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaStreamCreate(&stream_), "cudaStreamCreate");
    check_cublas(cublasCreate(&blas_), "cublasCreate");
    check_cublas(cublasSetStream(blas_, stream_), "cublasSetStream");
    // Deterministic results: no split-K atomics in cuBLAS.
    check_cublas(cublasSetAtomicsMode(blas_, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
    check_cuda(cudaMalloc(&reduce_result_, sizeof(double)), "cudaMalloc");
  }
  ~CudaBackend() override {
    if (workspace_) cudaFree(workspace_);
    if (dnn_) cudnnDestroy(dnn_);
    cudaFree(reduce_result_);
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

  void* allocate_bytes(std::size_t bytes) override {
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, std::max<std::size_t>(bytes, 4)), "cudaMalloc");
    return p;
  }
  void release(void* p) override { cudaFree(p); }
  void to_device(const void* host, void* device, std::size_t bytes) override {
    if (!bytes) return;
    check_cuda(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream_), "upload");
    check_cuda(cudaStreamSynchronize(stream_), "upload");
  }
  void to_host(const void* device, void* host, std::size_t bytes) override {
    if (!bytes) return;
    check_cuda(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream_), "download");
    check_cuda(cudaStreamSynchronize(stream_), "download");
  }
  void synchronize() override { check_cuda(cudaStreamSynchronize(stream_), "synchronize"); }

  void fill(float* y, std::size_t n, float value) override {
    if (n) fill_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(y, n, value);
    launched("fill");
  }
  void copy(const float* x, float* y, std::size_t n) override {
    if (n && x != y)
      check_cuda(cudaMemcpyAsync(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_), "copy");
  }
  void axpy(float alpha, const float* x, float* y, std::size_t n) override {
    if (n) axpy_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(alpha, x, y, n);
    launched("axpy");
  }
  void multiply(const float* x, const float* y, float* z, std::size_t n) override {
    if (n) multiply_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, y, z, n);
    launched("multiply");
  }
  double reduce(const float* x, std::size_t n, Reduction kind) override {
    if (n == 0) return 0.0;
    reduce_kernel<<<1, 1024, 0, stream_>>>(x, n, int(kind), reduce_result_);
    launched("reduce");
    double result = 0;
    to_host(reduce_result_, &result, sizeof(double));
    return result;
  }

  void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
            const float* b, float beta, float* c) override {
    if (m == 0 || n == 0) return;
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    check_cublas(cublasSgemm(blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(n), int(m),
                             int(k), &alpha, b, tb ? int(k) : int(n), a, ta ? int(m) : int(k), &beta, c, int(n)),
                 "cublasSgemm");
  }
  void bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                       Activation act, float slope) override {
    if (rows * cols) bias_activation_kernel<<<blocks_for(rows * cols), kThreads, 0, stream_>>>(x, bias, y, rows, cols, int(act), slope);
    launched("bias_activation");
  }
  void activation_backward(const float* y, const float* dy, float* dx, std::size_t n, Activation act,
                           float slope) override {
    if (n) activation_backward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(y, dy, dx, n, int(act), slope);
    launched("activation_backward");
  }
  void column_sums(const float* a, const float* b, std::size_t rows, std::size_t cols, float* out,
                   bool accumulate) override {
    if (cols) column_sums_kernel<<<unsigned(cols), kThreads, 0, stream_>>>(a, b, rows, cols, out, accumulate);
    launched("column_sums");
  }
  void gather_rows(const float* src, std::size_t cols, const uint32_t* index, std::size_t n, float* dst) override {
    if (n * cols) gather_rows_kernel<<<blocks_for(n * cols), kThreads, 0, stream_>>>(src, cols, index, n, dst);
    launched("gather_rows");
  }
  void dropout(const float* x, float* y, float* mask, std::size_t rows, std::size_t cols, float rate, uint64_t key,
               const uint32_t* row_keys) override {
    if (rows * cols) dropout_kernel<<<blocks_for(rows * cols), kThreads, 0, stream_>>>(x, y, mask, rows, cols, rate, key, row_keys);
    launched("dropout");
  }
  void loss(const LossParams& p, const float* out, const float* targets, const float* weights, std::size_t rows,
            std::size_t cols, float grad_scale, float* grad, float* row_loss) override {
    if (rows)
      loss_kernel<<<blocks_for(rows), kThreads, 0, stream_>>>(int(p.kind), p.label_smoothing, p.focal_gamma,
                                                              p.focal_alpha, out, targets, weights, rows, cols,
                                                              grad_scale, grad, row_loss);
    launched("loss");
  }
  void shifted_column_sums(const float* x, const float* shift, std::size_t rows, std::size_t cols, float* sum,
                           float* sum_squares) override {
    if (cols) shifted_column_sums_kernel<<<unsigned(cols), kThreads, 0, stream_>>>(x, shift, rows, cols, sum, sum_squares);
    launched("shifted_column_sums");
  }
  void batchnorm_statistics(const float* sum, const float* sum_squares, const float* shift, double count,
                            std::size_t cols, float eps, float momentum, float* mean, float* inv_std,
                            float* running_mean, float* running_var) override {
    if (cols)
      batchnorm_statistics_kernel<<<blocks_for(cols), kThreads, 0, stream_>>>(sum, sum_squares, shift, count, cols,
                                                                              eps, momentum, mean, inv_std,
                                                                              running_mean, running_var);
    launched("batchnorm_statistics");
  }
  void batchnorm_normalize(const float* x, const float* mean, const float* inv_std, const float* gamma,
                           const float* beta, std::size_t rows, std::size_t cols, float* xhat, float* y) override {
    if (rows * cols)
      batchnorm_normalize_kernel<<<blocks_for(rows * cols), kThreads, 0, stream_>>>(x, mean, inv_std, gamma, beta,
                                                                                    rows, cols, xhat, y);
    launched("batchnorm_normalize");
  }
  void batchnorm_backward(const float* dy, const float* xhat, const float* inv_std, const float* gamma,
                          const float* sum_dy, const float* sum_dy_xhat, double count, std::size_t rows,
                          std::size_t cols, float* dx) override {
    if (rows * cols)
      batchnorm_backward_kernel<<<blocks_for(rows * cols), kThreads, 0, stream_>>>(
          dy, xhat, inv_std, gamma, sum_dy, sum_dy_xhat, float(count), rows, cols, dx);
    launched("batchnorm_backward");
  }
  void add_regularization_gradient(const float* w, float* g, std::size_t n, float l1, float l2) override {
    if (n) regularization_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(w, g, n, l1, l2);
    launched("add_regularization_gradient");
  }
  void adam_update(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float beta1, float beta2,
                   float eps, float weight_decay, bool decoupled, uint64_t step) override {
    // Bias corrections computed on the host exactly as the CPU reference does.
    const float c1 = 1.f / (1.f - std::pow(beta1, float(step)));
    const float c2 = 1.f / (1.f - std::pow(beta2, float(step)));
    if (n) adam_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(w, g, m, v, n, lr, beta1, beta2, eps, weight_decay, decoupled, c1, c2);
    launched("adam_update");
  }
  void sgd_update(float* w, const float* g, float* velocity, std::size_t n, float lr, float momentum,
                  float weight_decay, bool nesterov) override {
    if (n) sgd_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(w, g, velocity, n, lr, momentum, weight_decay, nesterov);
    launched("sgd_update");
  }

  void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, float* y, std::size_t images) override {
    if (!images) return;
    const ConvDescriptors d(s, images);
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    check_cudnn(cudnnGetConvolutionForwardAlgorithm_v7(dnn(), d.x, d.w, d.conv, d.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                       &count, perf),
                "cudnnGetConvolutionForwardAlgorithm_v7");
    const auto algo = first_deterministic(perf, count, "convolution forward").algo;
    size_t bytes = 0;
    check_cudnn(cudnnGetConvolutionForwardWorkspaceSize(dnn_, d.x, d.w, d.conv, d.y, algo, &bytes), "workspace size");
    const float one = 1.f, zero = 0.f;
    check_cudnn(cudnnConvolutionForward(dnn_, &one, d.x, x, d.w, w, d.conv, algo, workspace(bytes), bytes, &zero, d.y, y),
                "cudnnConvolutionForward");
  }
  void conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                            std::size_t images) override {
    if (!images) return;
    const ConvDescriptors d(s, images);
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    check_cudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(dnn(), d.w, d.y, d.conv, d.x,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf),
                "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    const auto algo = first_deterministic(perf, count, "convolution input gradient").algo;
    size_t bytes = 0;
    check_cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(dnn_, d.w, d.y, d.conv, d.x, algo, &bytes),
                "workspace size");
    const float one = 1.f, zero = 0.f;
    check_cudnn(cudnnConvolutionBackwardData(dnn_, &one, d.w, w, d.y, dy, d.conv, algo, workspace(bytes), bytes, &zero,
                                             d.x, dx),
                "cudnnConvolutionBackwardData");
  }
  void conv2d_backward_filter(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                              std::size_t images) override {
    if (!images) return fill(dw, s.weight_size(), 0.f);
    const ConvDescriptors d(s, images);
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(dnn(), d.x, d.y, d.conv, d.w,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf),
                "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    const auto algo = first_deterministic(perf, count, "convolution weight gradient").algo;
    size_t bytes = 0;
    check_cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(dnn_, d.x, d.y, d.conv, d.w, algo, &bytes),
                "workspace size");
    const float one = 1.f, zero = 0.f;
    check_cudnn(cudnnConvolutionBackwardFilter(dnn_, &one, d.x, x, d.y, dy, d.conv, algo, workspace(bytes), bytes,
                                               &zero, d.w, dw),
                "cudnnConvolutionBackwardFilter");
  }
  void maxpool_forward(const Pool2dShape& s, const float* x, float* y, std::size_t images) override {
    const size_t n = images * s.out_height() * s.out_width() * s.channels;
    if (n) maxpool_forward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, y, images, s.height, s.width, s.channels, s.size);
    launched("maxpool_forward");
  }
  void maxpool_backward(const Pool2dShape& s, const float* x, const float* y, const float* dy, float* dx,
                        std::size_t images) override {
    fill(dx, images * s.height * s.width * s.channels, 0.f);
    const size_t n = images * s.out_height() * s.out_width() * s.channels;
    if (n)
      maxpool_backward_kernel<<<blocks_for(n), kThreads, 0, stream_>>>(x, y, dy, dx, images, s.height, s.width,
                                                                        s.channels, s.size);
    launched("maxpool_backward");
  }

  cudaStream_t stream() const { return stream_; }

 private:
  static void launched(const char* what) { check_cuda(cudaGetLastError(), what); }
  // cuDNN is loaded only when a convolution first runs (an MLP never needs it).
  cudnnHandle_t dnn() {
    if (!dnn_) {
      check_cudnn(cudnnCreate(&dnn_), "cudnnCreate");
      check_cudnn(cudnnSetStream(dnn_, stream_), "cudnnSetStream");
    }
    return dnn_;
  }
  void* workspace(size_t bytes) {
    if (bytes > workspace_bytes_) {
      if (workspace_) cudaFree(workspace_);
      check_cuda(cudaMalloc(&workspace_, bytes), "cuDNN workspace");
      workspace_bytes_ = bytes;
    }
    return workspace_;
  }
  cudnnHandle_t dnn_{};
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  int device_;
  cudaStream_t stream_{};
  cublasHandle_t blas_{};
  double* reduce_result_ = nullptr;
};

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw Error(fmt::format("NCCL error in {}: {}", what, ncclGetErrorString(r)));
}

// Gradient buckets summed with ncclAllReduce on a stream of their own: each start_sum
// records an event on the compute stream and the communication stream waits for it,
// so the bucket is reduced while the compute stream goes on with backward.
class NcclCollective final : public Collective {
 public:
  NcclCollective(CudaBackend& backend, const std::vector<uint8_t>& id, Collective& host) : backend_(backend), host_(host) {
    if (id.size() != sizeof(ncclUniqueId))
      throw InternalError(fmt::format("NCCL unique id of {} bytes, expected {}", id.size(), sizeof(ncclUniqueId)));
    ncclUniqueId unique{};
    std::copy(id.begin(), id.end(), reinterpret_cast<uint8_t*>(&unique));
    check_cuda(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cuda(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventCreateWithFlags(&reduced_, cudaEventDisableTiming), "cudaEventCreate");
    check_nccl(ncclCommInitRank(&comm_, host.size(), unique, host.rank()), "ncclCommInitRank");
  }
  ~NcclCollective() override {
    ncclCommDestroy(comm_);
    cudaEventDestroy(ready_);
    cudaEventDestroy(reduced_);
    cudaStreamDestroy(comm_stream_);
  }
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  void start_sum(float* device, std::size_t n) override {
    check_cuda(cudaEventRecord(ready_, backend_.stream()), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(comm_stream_, ready_, 0), "cudaStreamWaitEvent");
    check_nccl(ncclAllReduce(device, device, n, ncclFloat, ncclSum, comm_, comm_stream_), "ncclAllReduce");
  }
  void wait_all() override {
    check_cuda(cudaEventRecord(reduced_, comm_stream_), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(backend_.stream(), reduced_, 0), "cudaStreamWaitEvent");
  }
  void sum(double* values, std::size_t n) override { host_.sum(values, n); }

 private:
  CudaBackend& backend_;
  Collective& host_;
  ncclComm_t comm_{};
  cudaStream_t comm_stream_{};
  cudaEvent_t ready_{}, reduced_{};
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device_index) { return std::make_unique<CudaBackend>(device_index); }

std::vector<uint8_t> nccl_unique_id() {
  ncclUniqueId id{};
  check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  const auto* bytes = reinterpret_cast<const uint8_t*>(&id);
  return std::vector<uint8_t>(bytes, bytes + sizeof(id));
}

std::unique_ptr<Collective> make_nccl_collective(Backend& cuda_backend, const std::vector<uint8_t>& unique_id,
                                                 Collective& host) {
  auto* cuda = dynamic_cast<CudaBackend*>(&cuda_backend);
  if (!cuda) throw InternalError("make_nccl_collective: the backend is not the CUDA backend");
  return std::make_unique<NcclCollective>(*cuda, unique_id, host);
}

}  // namespace bsmhunt::nn
