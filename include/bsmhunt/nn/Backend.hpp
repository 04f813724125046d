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
Activation parse_activation(std::string_view name);  // InputError with a suggestion
std::string_view to_string(Activation act);

// Losses per row r of a prediction matrix out[rows, cols]:
//  bce_logits   cols = 1, target t in [0, 1] (soft after label smoothing):
//               l = max(z, 0) - z t + log(1 + exp(-|z|)), the stable form of BCE(sigmoid(z), t)
//  focal        cols = 1, hard target y: l = -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017)
//  softmax_ce   cols = K, target = class index: l = logsumexp(z) - sum_k q_k z_k,
//               q = (1 - eps) onehot(y) + eps / K
//  mse          targets [rows, cols]: l = mean_c (out - t)^2
enum class LossKind { bce_logits, focal, softmax_ce, mse };
struct LossParams {
  LossKind kind = LossKind::bce_logits;
  float label_smoothing = 0.0f;  // bce_logits: t -> t (1 - eps) + eps / 2; softmax_ce as above
  float focal_gamma = 2.0f;
  float focal_alpha = -1.0f;     // weight of the positive class in [0, 1]; < 0: no class factor
};

enum class Reduction { sum, sum_abs, sum_squares };

// A 2-D convolution over images stored one per row, channel last (NHWC): input
// height x width x in_channels, kernel x kernel window, zero padding `pad` on every
// side (kernel / 2 is "same" for odd kernels), output out_height() x out_width() x
// out_channels. Cross-correlation, as every framework computes it. Weights are
// out_channels x (kernel x kernel x in_channels) (cuDNN's KRSC / PyTorch's OHWI).
struct Conv2dShape {
  std::size_t height = 0, width = 0, in_channels = 0, out_channels = 0, kernel = 1, stride = 1, pad = 0;
  std::size_t out_height() const { return (height + 2 * pad - kernel) / stride + 1; }
  std::size_t out_width() const { return (width + 2 * pad - kernel) / stride + 1; }
  std::size_t input_size() const { return height * width * in_channels; }
  std::size_t output_size() const { return out_height() * out_width() * out_channels; }
  std::size_t weight_size() const { return out_channels * kernel * kernel * in_channels; }
};

// Max-pooling of NHWC images over size x size windows with stride `size`.
struct Pool2dShape {
  std::size_t height = 0, width = 0, channels = 0, size = 2;
  std::size_t out_height() const { return height / size; }
  std::size_t out_width() const { return width / size; }
};

struct DeviceInfo {
  DeviceKind kind = DeviceKind::cpu;
  std::string name;           // "CPU (OpenBLAS, 2 threads)", "NVIDIA H100 80GB HBM3"
  uint64_t memory_bytes = 0;  // device memory (0 for the host)
  std::string libraries;      // versions of BLAS / CUDA runtime, cuBLAS, NCCL
};

// The numerical primitives of the engine on one device. Buffers are device
// pointers obtained from allocate(); callers never know which device they use
// (no #ifdef CUDA above this interface). Matrices are row-major float32. Every op
// is deterministic: the same inputs give the same bits (fixed reduction orders),
// which the reproducibility of training rests on. Ops with rows = 0 do nothing
// (ranks with an empty share of a batch still take part in the collectives).
class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceInfo info() const = 0;

  virtual void* allocate_bytes(std::size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void to_device(const void* host, void* device, std::size_t bytes) = 0;
  virtual void to_host(const void* device, void* host, std::size_t bytes) = 0;
  virtual void synchronize() = 0;
  // True when device pointers are host pointers (the CPU backend): data already in
  // host memory can then be read in place instead of copied (Tensor::borrow).
  virtual bool uses_host_memory() const { return false; }
  // Floats of the widest activation in one inference pass (Network::rows_per_pass):
  // large on a GPU, whose kernels need many rows to fill it; a cache's worth on the
  // CPU, where a pass of a few hundred MB makes every layer wait for memory.
  virtual std::size_t inference_pass_floats() const { return std::size_t(1) << 26; }
  float* allocate(std::size_t n) { return static_cast<float*>(allocate_bytes(n * sizeof(float))); }
  void upload(const float* host, float* device, std::size_t n) { to_device(host, device, n * sizeof(float)); }
  void download(const float* device, float* host, std::size_t n) { to_host(device, host, n * sizeof(float)); }

  // y[i] = value
  virtual void fill(float* y, std::size_t n, float value) = 0;
  // y[i] = x[i] (device to device)
  virtual void copy(const float* x, float* y, std::size_t n) = 0;
  // y[i] += alpha x[i]
  virtual void axpy(float alpha, const float* x, float* y, std::size_t n) = 0;
  // z[i] = x[i] * y[i]
  virtual void multiply(const float* x, const float* y, float* z, std::size_t n) = 0;
  // sum of x, |x| or x^2 in double, returned to the host.
  virtual double reduce(const float* x, std::size_t n, Reduction kind) = 0;

  // C[m x n] = alpha * op(A) * op(B) + beta * C, op = transpose when the flag is set;
  // A is m x k (k x m if transposed), B is k x n (n x k if transposed).
  virtual void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
                    const float* a, const float* b, float beta, float* c) = 0;
  // y[r, j] = act(x[r, j] + bias[j]) (bias may be null: zero): the fused epilogue of a dense layer.
  virtual void bias_activation(const float* x, const float* bias, float* y, std::size_t rows, std::size_t cols,
                               Activation act, float leaky_slope = 0.01f) = 0;
  // dx = dy * act'(.) expressed through the output y = act(.) (may run in place, dx == dy).
  virtual void activation_backward(const float* y, const float* dy, float* dx, std::size_t n, Activation act,
                                   float leaky_slope = 0.01f) = 0;
  // out[c] (+)= sum_r a[r, c] * b[r, c] (b null: 1), rows in a fixed order.
  virtual void column_sums(const float* a, const float* b, std::size_t rows, std::size_t cols, float* out,
                           bool accumulate) = 0;
  // dst[i, :] = src[index[i], :] for i < n.
  virtual void gather_rows(const float* src, std::size_t cols, const uint32_t* index, std::size_t n, float* dst) = 0;

  // Inverted dropout: mask[r, c] = 0 with probability `rate`, else 1 / (1 - rate),
  // drawn from dropout_uniform(key, row_key[r] * cols + c) (DeviceMath.hpp) so that a
  // row's mask depends on its position in the global batch, not on the rank; y = x * mask.
  virtual void dropout(const float* x, float* y, float* mask, std::size_t rows, std::size_t cols, float rate,
                       uint64_t key, const uint32_t* row_keys) = 0;

  // Per-row weighted loss (LossKind): row_loss[r] = w[r] l_r (weights null: 1) and,
  // if grad is not null, grad[r, :] = grad_scale * w[r] * dl_r / dout[r, :].
  virtual void loss(const LossParams& params, const float* out, const float* targets, const float* weights,
                    std::size_t rows, std::size_t cols, float grad_scale, float* grad, float* row_loss) = 0;

  // Batch normalisation, split so that the sums can be all-reduced over ranks in between.
  // Sums are taken around a per-column shift (the running mean, the same on every
  // rank) so that the variance does not come from the difference of two large
  // numbers: sum[c] = sum_r (x - shift), sum_squares[c] = sum_r (x - shift)^2.
  virtual void shifted_column_sums(const float* x, const float* shift, std::size_t rows, std::size_t cols, float* sum,
                                   float* sum_squares) = 0;
  // mean = shift + sum / count, var = sum_squares / count - (sum / count)^2, inv_std =
  // 1 / sqrt(var + eps), and the running averages updated with `momentum` (unbiased
  // variance, as PyTorch does). `shift` may alias `running_mean`.
  virtual void batchnorm_statistics(const float* sum, const float* sum_squares, const float* shift, double count,
                                    std::size_t cols, float eps, float momentum, float* mean, float* inv_std,
                                    float* running_mean, float* running_var) = 0;
  // xhat = (x - mean) inv_std (stored if not null), y = gamma xhat + beta.
  virtual void batchnorm_normalize(const float* x, const float* mean, const float* inv_std, const float* gamma,
                                   const float* beta, std::size_t rows, std::size_t cols, float* xhat, float* y) = 0;
  // dx = gamma inv_std / N (N dy - sum_dy - xhat sum_dy_xhat), sums and N over the global batch.
  virtual void batchnorm_backward(const float* dy, const float* xhat, const float* inv_std, const float* gamma,
                                  const float* sum_dy, const float* sum_dy_xhat, double count, std::size_t rows,
                                  std::size_t cols, float* dx) = 0;

  // Convolution (Conv2dShape) of `images` images: y = conv(x, w) (no bias; the bias and
  // activation are the bias_activation epilogue over images x out_height x out_width
  // rows of out_channels); dx = the input gradient (overwritten); dw = the weight
  // gradient summed over the images (overwritten). CPU: im2col + GEMM; CUDA: cuDNN.
  virtual void conv2d_forward(const Conv2dShape& shape, const float* x, const float* w, float* y,
                              std::size_t images) = 0;
  virtual void conv2d_backward_data(const Conv2dShape& shape, const float* dy, const float* w, float* dx,
                                    std::size_t images) = 0;
  virtual void conv2d_backward_filter(const Conv2dShape& shape, const float* x, const float* dy, float* dw,
                                      std::size_t images) = 0;
  // y = the maximum of each window; dx = dy routed to the first maximum of each window
  // (row-major window order), 0 elsewhere (overwritten).
  virtual void maxpool_forward(const Pool2dShape& shape, const float* x, float* y, std::size_t images) = 0;
  virtual void maxpool_backward(const Pool2dShape& shape, const float* x, const float* y, const float* dy, float* dx,
                                std::size_t images) = 0;

  // g += l1 sign(w) + 2 l2 w
  virtual void add_regularization_gradient(const float* w, float* g, std::size_t n, float l1, float l2) = 0;
  // Adam (decoupled = false; weight decay added to the gradient) and AdamW (decoupled:
  // w -= lr wd w before the step); `step` counts from 1 for the bias corrections.
  virtual void adam_update(float* w, const float* g, float* m, float* v, std::size_t n, float lr, float beta1,
                           float beta2, float eps, float weight_decay, bool decoupled, uint64_t step) = 0;
  // SGD with (Nesterov) momentum: g' = g + wd w; v = mu v + g'; w -= lr (nesterov ? g' + mu v : v).
  virtual void sgd_update(float* w, const float* g, float* velocity, std::size_t n, float lr, float momentum,
                          float weight_decay, bool nesterov) = 0;
};

// The backend of `kind`. For cuda: throws UnavailableError when this build has no
// CUDA support or no GPU is visible, with the reason.
std::unique_ptr<Backend> make_backend(DeviceKind kind, int device_index = 0);

// Threads of the CPU backend's BLAS (OpenBLAS, found at run time; a no-op with a
// BLAS that has no such control). Ranks sharing a node should share its cores.
void set_cpu_threads(int threads);
// The kernels that BLAS runs: OpenBLAS's core name ("SkylakeX", "Haswell", ...) once the
// CPU backend has chosen them (a newer CPU than OpenBLAS knows gets the kernels its
// instruction set supports, not the SSE3 fallback); "" for a BLAS other than OpenBLAS.
std::string cpu_blas_kernels();
// Whether the CPU backend multiplies dense-layer shapes with its own kernels (AVX2 and
// FMA present), where each element is one chain of fused multiply-adds and a row's
// result does not depend on the other rows of the call; else all goes to the BLAS.
bool cpu_has_own_gemm_kernels();

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
