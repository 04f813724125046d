#include "bsmhunt/nn/Network.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/nn/Onnx.hpp"

namespace bsmhunt::nn {

namespace {

// Inference passes have a multiple of this many rows (for_each_chunk).
constexpr std::size_t kRowAlign = 64;

// The ONNX operator of an activation (linear: no node).
std::string activation_to_onnx(onnx::Graph& g, const std::string& x, Activation act, float slope) {
  switch (act) {
    case Activation::linear: return x;
    case Activation::relu: return g.node("Relu", {x});
    case Activation::leaky_relu: return g.node("LeakyRelu", {x}, {onnx::Attribute::of_float("alpha", slope)});
    case Activation::tanh: return g.node("Tanh", {x});
    case Activation::sigmoid: return g.node("Sigmoid", {x});
  }
  throw InternalError("activation_to_onnx: unknown activation");
}

std::vector<int64_t> dims_of(std::initializer_list<std::size_t> dims) {
  std::vector<int64_t> d;
  for (auto v : dims) d.push_back(int64_t(v));
  return d;
}

std::size_t block_size(const std::vector<ParameterShape>& shapes) {
  std::size_t n = 0;
  for (const auto& s : shapes) {
    std::size_t k = 1;
    for (auto d : s.shape) k *= d;
    n = std::max(n, s.offset + k);
  }
  return n;
}

// y = act(x W + b): one GEMM and the fused bias/activation epilogue. No bias in
// front of a batch normalisation: it would cancel in the loss, and its zero
// gradient, scaled up by Adam's normalisation, would make it drift on rounding noise.
class Dense final : public Layer {
 public:
  Dense(std::size_t in, std::size_t out, Activation act, float slope, bool bias = true)
      : in_(in), out_(out), act_(act), slope_(slope), bias_(bias) {}
  std::string kind() const override { return "dense"; }
  std::string describe() const override {
    return fmt::format("dense {} -> {}, {}{}", in_, out_, to_string(act_), bias_ ? "" : ", no bias");
  }
  std::size_t input_width() const override { return in_; }
  std::size_t output_width() const override { return out_; }
  std::vector<ParameterShape> parameters() const override {
    if (!bias_) return {{"weight", {in_, out_}, 0}};
    return {{"weight", {in_, out_}, 0}, {"bias", {out_}, in_ * out_}};
  }
  void initialize(float* params, float*, uint64_t seed, std::size_t layer_index) const override {
    // He initialisation for the rectifiers, Glorot otherwise; uniform; zero bias.
    const bool rectifier = act_ == Activation::relu || act_ == Activation::leaky_relu;
    const double limit = rectifier ? std::sqrt(6.0 / double(in_)) : std::sqrt(6.0 / double(in_ + out_));
    CounterRng rng(seed, stable_hash("dense-init"), layer_index);
    for (std::size_t i = 0; i < in_ * out_; ++i) params[i] = float(rng.uniform(-limit, limit));
    if (bias_)
      for (std::size_t j = 0; j < out_; ++j) params[in_ * out_ + j] = 0.0f;
  }
  void forward(StepContext& ctx, const float* x, std::size_t rows, float* y) override {
    ctx.backend.gemm(false, false, rows, out_, in_, 1.0f, x, params_, 0.0f, y);
    if (bias_ || act_ != Activation::linear)
      ctx.backend.bias_activation(y, bias_ ? params_ + in_ * out_ : nullptr, y, rows, out_, act_, slope_);
  }
  // forward() in two parts, for inputs that take several values per row (predict_at_points):
  // product = x W over rows whose varying inputs are zero, then y = act(product + shift)
  // with shift = bias + (the varying inputs) W, one per set of their values.
  void product(StepContext& ctx, const float* x, std::size_t rows, float* product) {
    ctx.backend.gemm(false, false, rows, out_, in_, 1.0f, x, params_, 0.0f, product);
  }
  // Host: the shift of each point, [points, out]; `params` is this layer's host block.
  std::vector<float> shifts(const float* params, std::size_t first, std::size_t width, const float* point_inputs,
                            std::size_t points) const {
    std::vector<float> shift(points * out_);
    for (std::size_t p = 0; p < points; ++p)
      for (std::size_t j = 0; j < out_; ++j) {
        float sum = 0.0f;
        for (std::size_t k = 0; k < width; ++k) sum += point_inputs[p * width + k] * params[(first + k) * out_ + j];
        shift[p * out_ + j] = (bias_ ? params[in_ * out_ + j] : 0.0f) + sum;
      }
    return shift;
  }
  void finish(StepContext& ctx, const float* product, const float* shift, std::size_t rows, float* y) {
    ctx.backend.bias_activation(product, shift, y, rows, out_, act_, slope_);
  }
  void backward(StepContext& ctx, const float* x, const float* y, float* dy, std::size_t rows, float* dx) override {
    if (act_ != Activation::linear) ctx.backend.activation_backward(y, dy, dy, rows * out_, act_, slope_);
    ctx.backend.gemm(true, false, in_, out_, rows, 1.0f, x, dy, 0.0f, grads_);              // dW = x^T dz
    if (bias_) ctx.backend.column_sums(dy, nullptr, rows, out_, grads_ + in_ * out_, false);  // db = sum_r dz
    if (dx) ctx.backend.gemm(false, true, rows, in_, out_, 1.0f, dy, params_, 0.0f, dx);       // dx = dz W^T
  }
  std::string to_onnx(onnx::Graph& g, const std::string& x, const float* params, const float*) const override {
    const std::string w = g.constant("weight", dims_of({in_, out_}), std::vector<float>(params, params + in_ * out_));
    const std::string y = bias_ ? g.node("Gemm", {x, w, g.constant("bias", dims_of({out_}),
                                                                    std::vector<float>(params + in_ * out_,
                                                                                       params + in_ * out_ + out_))})
                                : g.node("MatMul", {x, w});
    return activation_to_onnx(g, y, act_, slope_);
  }

 private:
  std::size_t in_, out_;
  Activation act_;
  float slope_;
  bool bias_;
};

// y = act(conv(x, K) + b) over NHWC images, one per row. The bias/activation epilogue
// is the dense layer's, over images x pixels rows of out_channels columns.
class Conv2d final : public Layer {
 public:
  Conv2d(const Conv2dShape& shape, Activation act, float slope) : s_(shape), act_(act), slope_(slope) {}
  std::string kind() const override { return "conv2d"; }
  std::string describe() const override {
    return fmt::format("conv2d {}x{} {}x{}x{} -> {}x{}x{}{}, {}", s_.kernel, s_.kernel, s_.height, s_.width,
                       s_.in_channels, s_.out_height(), s_.out_width(), s_.out_channels,
                       s_.stride > 1 ? fmt::format(" stride {}", s_.stride) : "", to_string(act_));
  }
  std::size_t input_width() const override { return s_.input_size(); }
  std::size_t output_width() const override { return s_.output_size(); }
  std::vector<ParameterShape> parameters() const override {
    const std::size_t w = s_.weight_size();
    return {{"kernel", {s_.out_channels, s_.kernel * s_.kernel * s_.in_channels}, 0}, {"bias", {s_.out_channels}, w}};
  }
  void initialize(float* params, float*, uint64_t seed, std::size_t layer_index) const override {
    const std::size_t fan_in = s_.kernel * s_.kernel * s_.in_channels;
    const double limit = std::sqrt(6.0 / double(fan_in));  // He uniform for the rectifiers
    CounterRng rng(seed, stable_hash("conv2d-init"), layer_index);
    for (std::size_t i = 0; i < s_.weight_size(); ++i) params[i] = float(rng.uniform(-limit, limit));
    for (std::size_t j = 0; j < s_.out_channels; ++j) params[s_.weight_size() + j] = 0.0f;
  }
  void forward(StepContext& ctx, const float* x, std::size_t rows, float* y) override {
    if (!rows) return;
    ctx.backend.conv2d_forward(s_, x, params_, y, rows);
    ctx.backend.bias_activation(y, params_ + s_.weight_size(), y, rows * pixels(), s_.out_channels, act_, slope_);
  }
  void backward(StepContext& ctx, const float* x, const float* y, float* dy, std::size_t rows, float* dx) override {
    if (act_ != Activation::linear) ctx.backend.activation_backward(y, dy, dy, rows * s_.output_size(), act_, slope_);
    ctx.backend.conv2d_backward_filter(s_, x, dy, grads_, rows);
    ctx.backend.column_sums(dy, nullptr, rows * pixels(), s_.out_channels, grads_ + s_.weight_size(), false);
    if (dx) ctx.backend.conv2d_backward_data(s_, dy, params_, dx, rows);
  }
  // The kernel is stored [out][(ky * K + kx) * C + c] (NHWC windows); ONNX wants [out][c][ky][kx].
  std::string to_onnx(onnx::Graph& g, const std::string& x, const float* params, const float*) const override {
    const std::size_t K = s_.kernel, C = s_.in_channels, M = s_.out_channels;
    std::vector<float> kernel(s_.weight_size());
    for (std::size_t m = 0; m < M; ++m)
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t ky = 0; ky < K; ++ky)
          for (std::size_t kx = 0; kx < K; ++kx)
            kernel[((m * C + c) * K + ky) * K + kx] = params[m * K * K * C + (ky * K + kx) * C + c];
    const std::string w = g.constant("kernel", dims_of({M, C, K, K}), kernel);
    const std::string b = g.constant("bias", dims_of({M}), std::vector<float>(params + s_.weight_size(),
                                                                              params + s_.weight_size() + M));
    const auto k = int64_t(K), st = int64_t(s_.stride), p = int64_t(s_.pad);
    const std::string y = g.node("Conv", {x, w, b},
                                 {onnx::Attribute::of_ints("kernel_shape", {k, k}),
                                  onnx::Attribute::of_ints("strides", {st, st}),
                                  onnx::Attribute::of_ints("pads", {p, p, p, p})});
    return activation_to_onnx(g, y, act_, slope_);
  }
  std::vector<std::size_t> image_input() const override { return {s_.height, s_.width, s_.in_channels}; }

 private:
  std::size_t pixels() const { return s_.out_height() * s_.out_width(); }
  Conv2dShape s_;
  Activation act_;
  float slope_;
};

class MaxPool2d final : public Layer {
 public:
  explicit MaxPool2d(const Pool2dShape& shape) : s_(shape) {}
  std::string kind() const override { return "maxpool"; }
  std::string describe() const override {
    return fmt::format("max-pool {}x{} {}x{}x{} -> {}x{}x{}", s_.size, s_.size, s_.height, s_.width, s_.channels,
                       s_.out_height(), s_.out_width(), s_.channels);
  }
  std::size_t input_width() const override { return s_.height * s_.width * s_.channels; }
  std::size_t output_width() const override { return s_.out_height() * s_.out_width() * s_.channels; }
  void forward(StepContext& ctx, const float* x, std::size_t rows, float* y) override {
    if (rows) ctx.backend.maxpool_forward(s_, x, y, rows);
  }
  void backward(StepContext& ctx, const float* x, const float* y, float* dy, std::size_t rows, float* dx) override {
    if (dx && rows) ctx.backend.maxpool_backward(s_, x, y, dy, dx, rows);
  }
  std::string to_onnx(onnx::Graph& g, const std::string& x, const float*, const float*) const override {
    const auto k = int64_t(s_.size);
    return g.node("MaxPool", {x}, {onnx::Attribute::of_ints("kernel_shape", {k, k}),
                                    onnx::Attribute::of_ints("strides", {k, k})});
  }
  std::vector<std::size_t> image_input() const override { return {s_.height, s_.width, s_.channels}; }

 private:
  Pool2dShape s_;
};

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(std::size_t width, Activation act, float slope) : width_(width), act_(act), slope_(slope) {}
  std::string kind() const override { return "activation"; }
  std::string describe() const override { return fmt::format("activation {}", to_string(act_)); }
  std::size_t input_width() const override { return width_; }
  std::size_t output_width() const override { return width_; }
  void forward(StepContext& ctx, const float* x, std::size_t rows, float* y) override {
    ctx.backend.bias_activation(x, nullptr, y, rows, width_, act_, slope_);
  }
  void backward(StepContext& ctx, const float*, const float* y, float* dy, std::size_t rows, float* dx) override {
    if (dx) ctx.backend.activation_backward(y, dy, dx, rows * width_, act_, slope_);
  }
  std::string to_onnx(onnx::Graph& g, const std::string& x, const float*, const float*) const override {
    return activation_to_onnx(g, x, act_, slope_);
  }
  bool any_layout() const override { return true; }

 private:
  std::size_t width_;
  Activation act_;
  float slope_;
};

// Inverted dropout; identity outside training.
class Dropout final : public Layer {
 public:
  Dropout(Backend& backend, std::size_t width, float rate, std::size_t index)
      : width_(width), rate_(rate), salt_(mix64(index + 0x5EED)), mask_(backend, 0, width) {}
  std::string kind() const override { return "dropout"; }
  std::string describe() const override { return fmt::format("dropout {}", rate_); }
  std::size_t input_width() const override { return width_; }
  std::size_t output_width() const override { return width_; }
  void forward(StepContext& ctx, const float* x, std::size_t rows, float* y) override {
    if (!ctx.training || rate_ <= 0.0f) {
      ctx.backend.copy(x, y, rows * width_);
      training_mask_ = false;
      return;
    }
    mask_.reshape(rows, width_);
    ctx.backend.dropout(x, y, mask_.data(), rows, width_, rate_, ctx.dropout_key ^ salt_, ctx.row_keys);
    training_mask_ = true;
  }
  void backward(StepContext& ctx, const float*, const float*, float* dy, std::size_t rows, float* dx) override {
    if (!dx) return;
    if (training_mask_) ctx.backend.multiply(dy, mask_.data(), dx, rows * width_);
    else ctx.backend.copy(dy, dx, rows * width_);
  }
  // Identity at inference.
  std::string to_onnx(onnx::Graph&, const std::string& x, const float*, const float*) const override { return x; }
  bool any_layout() const override { return true; }

 private:
  std::size_t width_;
  float rate_;
  uint64_t salt_;
  Tensor mask_;
  bool training_mask_ = false;
};

// Batch normalisation with statistics summed over all replicas (synchronised), so the
// result does not depend on how the global batch is split over ranks.
class BatchNorm final : public Layer {
 public:
  BatchNorm(Backend& backend, std::size_t width)
      : width_(width), xhat_(backend, 0, width), scratch_(backend, 4, width) {}
  std::string kind() const override { return "batchnorm"; }
  std::string describe() const override { return fmt::format("batchnorm {}", width_); }
  std::size_t input_width() const override { return width_; }
  std::size_t output_width() const override { return width_; }
  std::vector<ParameterShape> parameters() const override { return {{"gamma", {width_}, 0}, {"beta", {width_}, width_}}; }
  std::vector<ParameterShape> state() const override {
    return {{"running_mean", {width_}, 0}, {"running_var", {width_}, width_}};
  }
  void initialize(float* params, float* state, uint64_t, std::size_t) const override {
    for (std::size_t c = 0; c < width_; ++c) params[c] = 1.0f, params[width_ + c] = 0.0f;
    for (std::size_t c = 0; c < width_; ++c) state[c] = 0.0f, state[width_ + c] = 1.0f;
  }
  void forward(StepContext& ctx, const float* x, std::size_t rows, float* y) override {
    Backend& be = ctx.backend;
    float* sums = scratch_.data();               // [sum x | sum x^2]
    float* mean = scratch_.data() + 2 * width_;
    float* inv_std = scratch_.data() + 3 * width_;
    const float* gamma = params_;
    const float* beta = params_ + width_;
    if (ctx.training) {
      // Shifted by the running mean, the same on every rank: no cancellation in the variance.
      be.shifted_column_sums(x, state_, rows, width_, sums, sums + width_);
      ctx.collective.sum_now(sums, 2 * width_);
      be.batchnorm_statistics(sums, sums + width_, state_, ctx.global_rows, width_, kEps, kMomentum, mean, inv_std,
                              state_, state_ + width_);
      xhat_.reshape(rows, width_);
      be.batchnorm_normalize(x, mean, inv_std, gamma, beta, rows, width_, xhat_.data(), y);
    } else {
      // Running statistics: mean and 1/sqrt(var + eps) prepared on the host (width_ values).
      std::vector<float> running(2 * width_);
      be.download(state_, running.data(), running.size());
      for (std::size_t c = 0; c < width_; ++c) running[width_ + c] = 1.0f / std::sqrt(running[width_ + c] + kEps);
      be.upload(running.data(), mean, 2 * width_);
      be.batchnorm_normalize(x, mean, inv_std, gamma, beta, rows, width_, nullptr, y);
    }
  }
  void backward(StepContext& ctx, const float*, const float*, float* dy, std::size_t rows, float* dx) override {
    Backend& be = ctx.backend;
    // Local sums are the parameter gradients (the bucket all-reduce sums them);
    // dx needs the global ones.
    be.column_sums(dy, xhat_.data(), rows, width_, grads_, false);          // dgamma
    be.column_sums(dy, nullptr, rows, width_, grads_ + width_, false);      // dbeta
    // The sum is collective, so every rank takes part, also one whose share of the
    // batch is empty (its dx buffer is then null: nothing to write).
    float* sums = scratch_.data();
    be.copy(grads_, sums, 2 * width_);
    ctx.collective.sum_now(sums, 2 * width_);
    if (dx)
      be.batchnorm_backward(dy, xhat_.data(), scratch_.data() + 3 * width_, params_, sums + width_, sums,
                            ctx.global_rows, rows, width_, dx);
  }
  // Evaluation mode: the running statistics, as forward uses them.
  std::string to_onnx(onnx::Graph& g, const std::string& x, const float* params, const float* state) const override {
    const auto vec = [&](const char* hint, const float* v) {
      return g.constant(hint, dims_of({width_}), std::vector<float>(v, v + width_));
    };
    return g.node("BatchNormalization",
                  {x, vec("gamma", params), vec("beta", params + width_), vec("running_mean", state),
                   vec("running_var", state + width_)},
                  {onnx::Attribute::of_float("epsilon", kEps)});
  }

 private:
  static constexpr float kEps = 1e-5f, kMomentum = 0.1f;
  std::size_t width_;
  Tensor xhat_, scratch_;
};

}  // namespace

std::vector<std::string> cnn_architectures() { return {"strides", "max-pool"}; }

std::size_t Layer::parameter_count() const { return block_size(parameters()); }

// The two CNNs of the mono-jet study: 3x3 convolutions of 64, 128, 256 (stride 2),
// 128, 256 (stride 2) filters, a 1x1 convolution of 128, a dense layer of 128, dropout
// and the logits. "max-pool" replaces each stride 2 by stride 1 and a 2x2 max-pool.
void Network::build_cnn(Backend& backend, const NetworkSpec& spec) {
  const bool pooling = spec.cnn == "max-pool";
  if (!pooling && spec.cnn != "strides")
    throw InputError(fmt::format("cnn '{}': expected strides or max-pool", spec.cnn));
  if (spec.image_height * spec.image_width * spec.image_channels != spec.inputs || spec.inputs == 0)
    throw InputError(fmt::format("cnn: images of {} x {} x {} do not make the {} inputs", spec.image_height,
                                 spec.image_width, spec.image_channels, spec.inputs));
  if (spec.outputs == 0) throw InputError("network: zero outputs");
  std::size_t h = spec.image_height, w = spec.image_width, c = spec.image_channels;
  const auto conv = [&](std::size_t filters, std::size_t kernel, std::size_t stride) {
    Conv2dShape s{h, w, c, filters, kernel, pooling ? 1 : stride, kernel / 2};
    if (s.height + 2 * s.pad < s.kernel || s.width + 2 * s.pad < s.kernel || s.out_height() == 0 || s.out_width() == 0)
      throw InputError(fmt::format("cnn: a {}x{} convolution of a {}x{} image has an empty output", kernel, kernel, h, w));
    layers_.push_back(std::make_unique<Conv2d>(s, spec.activation, spec.leaky_slope));
    h = s.out_height(), w = s.out_width(), c = filters;
    if (pooling && stride == 2) {
      if (h < 2 || w < 2) throw InputError(fmt::format("cnn: a 2x2 max-pool of a {}x{} image is empty", h, w));
      const Pool2dShape p{h, w, c, 2};
      layers_.push_back(std::make_unique<MaxPool2d>(p));
      h = p.out_height(), w = p.out_width();
    }
  };
  conv(64, 3, 1), conv(128, 3, 1), conv(256, 3, 2), conv(128, 3, 1), conv(256, 3, 2), conv(128, 1, 1);
  std::size_t width = h * w * c;
  for (auto hidden : spec.hidden) {
    layers_.push_back(std::make_unique<Dense>(width, hidden, spec.activation, spec.leaky_slope));
    width = hidden;
  }
  activity_layer_ = layers_.size() - 1;
  if (spec.dropout > 0.0f) layers_.push_back(std::make_unique<Dropout>(backend, width, spec.dropout, layers_.size()));
  layers_.push_back(std::make_unique<Dense>(width, spec.outputs, Activation::linear, spec.leaky_slope));  // logits
}
std::size_t Layer::state_count() const { return block_size(state()); }

Network::Network(Backend& backend, const NetworkSpec& spec) : spec_(spec), backend_(backend) {
  if (spec.inputs == 0) throw InputError("network: zero input features");
  if (spec.dropout < 0.0f || spec.dropout >= 1.0f)
    throw InputError(fmt::format("--dropout {}: expected a rate in [0, 1)", spec.dropout));
  for (auto w : spec.hidden)
    if (w == 0) throw InputError("network: a hidden layer of width 0");
  std::size_t width = spec.inputs;
  auto add_hidden = [&](std::size_t out) {
    layers_.push_back(std::make_unique<Dense>(width, out, spec.batchnorm ? Activation::linear : spec.activation,
                                              spec.leaky_slope, !spec.batchnorm));
    if (spec.batchnorm) {
      layers_.push_back(std::make_unique<BatchNorm>(backend, out));
      layers_.push_back(std::make_unique<ActivationLayer>(out, spec.activation, spec.leaky_slope));
    }
    width = out;
  };
  auto add_dropout = [&]() {
    if (spec.dropout > 0.0f) layers_.push_back(std::make_unique<Dropout>(backend, width, spec.dropout, layers_.size()));
  };
  if (spec.model == "mlp") {
    if (spec.outputs == 0) throw InputError("network: zero outputs");
    for (auto w : spec.hidden) {
      add_hidden(w);
      activity_layer_ = layers_.size() - 1;
      add_dropout();
    }
    layers_.push_back(std::make_unique<Dense>(width, spec.outputs, Activation::linear, spec.leaky_slope));  // logits
  } else if (spec.model == "autoencoder") {
    if (spec.latent == 0) throw InputError("autoencoder: latent size 0");
    for (auto w : spec.hidden) add_hidden(w), add_dropout();
    add_hidden(spec.latent);  // the bottleneck: its activations carry the activity penalty
    activity_layer_ = layers_.size() - 1;
    for (auto it = spec.hidden.rbegin(); it != spec.hidden.rend(); ++it) add_hidden(*it);
    layers_.push_back(std::make_unique<Dense>(width, spec.inputs, Activation::linear, spec.leaky_slope));
  } else if (spec.model == "cnn") {
    build_cnn(backend, spec);
  } else {
    throw InputError(fmt::format("model '{}': expected mlp, autoencoder or cnn", spec.model));
  }
  std::size_t np = 0, ns = 0;
  for (const auto& layer : layers_) {
    param_offsets_.push_back(np), state_offsets_.push_back(ns);
    np += layer->parameter_count(), ns += layer->state_count();
  }
  param_offsets_.push_back(np), state_offsets_.push_back(ns);
  params_ = Tensor(backend, 1, np);
  grads_ = Tensor(backend, 1, np);
  state_ = Tensor(backend, 1, std::max<std::size_t>(ns, 1));
  for (std::size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->bind(params_.data() + param_offsets_[i], grads_.data() + param_offsets_[i],
                     state_.data() + state_offsets_[i]);
  for (std::size_t i = 0; i < layers_.size(); ++i) activations_.emplace_back(backend, 0, layers_[i]->output_width());
  grad_a_ = Tensor(backend, 0, 1);
  grad_b_ = Tensor(backend, 0, 1);
  initialize(0);
}

void Network::initialize(uint64_t seed) {
  std::vector<float> p(params_.size()), s(state_.size(), 0.0f);
  for (std::size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->initialize(p.data() + param_offsets_[i], s.data() + state_offsets_[i], seed, i);
  backend_.upload(p.data(), params_.data(), p.size());
  backend_.upload(s.data(), state_.data(), s.size());
}

const float* Network::forward(StepContext& ctx, const float* x, std::size_t rows) {
  input_ = x, rows_ = rows;
  activity_penalty_ = 0;
  const float* in = forward_from(ctx, 0, x, rows);
  if (ctx.training && spec_.activity_l2 > 0.0f) {
    const Tensor& a = activations_[activity_layer_];
    activity_penalty_ = spec_.activity_l2 * backend_.reduce(a.data(), a.size(), Reduction::sum_squares);
  }
  return in;
}

const float* Network::forward_from(StepContext& ctx, std::size_t first, const float* in, std::size_t rows) {
  for (std::size_t i = first; i < layers_.size(); ++i) {
    activations_[i].reshape(rows, layers_[i]->output_width());
    layers_[i]->forward(ctx, in, rows, activations_[i].data());
    in = activations_[i].data();
  }
  return in;
}

std::string Network::to_onnx(onnx::Graph& g, const std::string& x) const {
  const auto params = params_.to_host();
  const auto state = state_.to_host();
  std::string t = x;
  bool images = false;  // t is [N, C, H, W] (else [N, width])
  // Back to rows, flattened NHWC as the engine stores images.
  const auto to_rows = [&] {
    t = g.node("Flatten", {g.node("Transpose", {t}, {onnx::Attribute::of_ints("perm", {0, 2, 3, 1})})},
               {onnx::Attribute::of_int("axis", 1)});
    images = false;
  };
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = *layers_[i];
    const auto hwc = layer.image_input();
    if (!hwc.empty() && !images) {  // rows of NHWC images -> NCHW
      const std::string shape = g.constant("image_shape", {4}, std::vector<int64_t>{-1, int64_t(hwc[0]),
                                                                                  int64_t(hwc[1]), int64_t(hwc[2])});
      t = g.node("Transpose", {g.node("Reshape", {t, shape})}, {onnx::Attribute::of_ints("perm", {0, 3, 1, 2})});
      images = true;
    } else if (hwc.empty() && images && !layer.any_layout()) {
      to_rows();
    }
    t = layer.to_onnx(g, t, params.data() + param_offsets_[i], state.data() + state_offsets_[i]);
  }
  if (images) to_rows();
  return t;
}

namespace {

// Runs `each(device_x, padded_rows, rows, first_row)` over chunks of the host rows x
// uploaded to the device. Every chunk of a call has the same number of rows, a multiple
// of kRowAlign (zero rows pad the last): a BLAS computes a remainder, or a small matrix,
// with other kernels whose last bit can differ, so without it an event's score would
// depend on where its chunk ends (on the rank count).
template <typename Each>
void for_each_upload(const Network& net, Backend& backend, const float* x, std::size_t rows, std::size_t chunk_rows,
                     Each&& each) {
  const std::size_t F = net.inputs(), chunk = chunk_rows ? chunk_rows : net.rows_per_pass(std::max<std::size_t>(rows, 1));
  const std::size_t padded = (std::min(chunk, rows) + kRowAlign - 1) / kRowAlign * kRowAlign;
  Tensor device_x(backend, 0, F);
  std::vector<float> zeros;
  for (std::size_t r0 = 0; r0 < rows; r0 += chunk) {
    const std::size_t n = std::min(chunk, rows - r0);
    device_x.reshape(padded, F);
    backend.upload(x + r0 * F, device_x.data(), n * F);
    if (padded > n) {
      zeros.assign((padded - n) * F, 0.0f);
      backend.upload(zeros.data(), device_x.data() + n * F, zeros.size());
    }
    each(static_cast<const float*>(device_x.data()), padded, n, r0);
  }
}

// Runs `each(device_x, device_y, rows, first_row)` over the chunks of for_each_upload,
// device_y the network's output for them.
template <typename Each>
void for_each_chunk(Network& net, Backend& backend, const float* x, std::size_t rows, std::size_t chunk_rows,
                    Each&& each) {
  LocalCollective local;
  StepContext ctx{backend, local, false, 0, nullptr, 0};
  for_each_upload(net, backend, x, rows, chunk_rows, [&](const float* dx, std::size_t padded, std::size_t n, std::size_t r0) {
    each(dx, net.forward(ctx, dx, padded), n, r0);
  });
}

}  // namespace

std::size_t Network::rows_per_pass(std::size_t limit) const {
  std::size_t widest = inputs();
  for (const auto& layer : layers_) widest = std::max(widest, layer->output_width());
  limit = std::max<std::size_t>(limit, 1);
  // At least kRowAlign rows: a pass is padded to a multiple of it (for_each_chunk).
  return std::clamp<std::size_t>(backend_.inference_pass_floats() / widest, std::min(kRowAlign, limit), limit);
}

std::vector<float> Network::predict(const float* x, std::size_t rows, std::size_t chunk_rows) {
  const std::size_t K = outputs();
  std::vector<float> out(rows * K);
  for_each_chunk(*this, backend_, x, rows, chunk_rows, [&](const float*, const float* y, std::size_t n, std::size_t r0) {
    backend_.download(y, out.data() + r0 * K, n * K);
  });
  return out;
}

std::vector<float> Network::predict_at_points(const float* x, std::size_t rows, std::size_t first, std::size_t width,
                                              const float* point_inputs, std::size_t points, std::size_t chunk_rows) {
  const std::size_t F = inputs(), K = outputs();
  if (first + width > F)
    throw InternalError(fmt::format("predict_at_points: inputs [{}, {}) of a network with {} inputs", first,
                                    first + width, F));
  std::vector<float> out(rows * points * K);
  if (rows == 0 || points == 0) return out;
  // The rows with the varying inputs zeroed: the shared product then holds none of them.
  std::vector<float> host_x(x, x + rows * F);
  for (std::size_t r = 0; r < rows; ++r) std::fill_n(host_x.data() + r * F + first, width, 0.0f);

  auto* dense = dynamic_cast<Dense*>(layers_.front().get());
  if (dense == nullptr) {
    // Not a dense first layer (a CNN): every point is its own pass.
    for (std::size_t p = 0; p < points; ++p) {
      for (std::size_t r = 0; r < rows; ++r)
        std::copy_n(point_inputs + p * width, width, host_x.data() + r * F + first);
      const std::vector<float> y = predict(host_x.data(), rows, chunk_rows);
      for (std::size_t r = 0; r < rows; ++r) std::copy_n(y.data() + r * K, K, out.data() + (r * points + p) * K);
    }
    return out;
  }

  const std::size_t H = layers_.front()->output_width();
  const std::vector<float> params = params_.to_host();
  const std::vector<float> host_shift = dense->shifts(params.data() + param_offsets_[0], first, width, point_inputs, points);
  Tensor shift(backend_, points, H), product(backend_, 0, H);
  backend_.upload(host_shift.data(), shift.data(), host_shift.size());
  std::vector<float> y_host;
  LocalCollective local;
  StepContext ctx{backend_, local, false, 0, nullptr, 0};
  for_each_upload(*this, backend_, host_x.data(), rows, chunk_rows, [&](const float* dx, std::size_t padded,
                                                                         std::size_t n, std::size_t r0) {
    product.reshape(padded, H);
    dense->product(ctx, dx, padded, product.data());
    for (std::size_t p = 0; p < points; ++p) {
      activations_.front().reshape(padded, H);
      dense->finish(ctx, product.data(), shift.data() + p * H, padded, activations_.front().data());
      const float* y = forward_from(ctx, 1, activations_.front().data(), padded);
      y_host.resize(n * K);
      backend_.download(y, y_host.data(), n * K);
      for (std::size_t r = 0; r < n; ++r) std::copy_n(y_host.data() + r * K, K, out.data() + ((r0 + r) * points + p) * K);
    }
  });
  return out;
}

std::vector<float> Network::reconstruction_error(const float* x, std::size_t rows, std::size_t chunk_rows) {
  if (outputs() != inputs())
    throw InputError(fmt::format("reconstruction error of a network with {} inputs and {} outputs", inputs(), outputs()));
  std::vector<float> out(rows);
  Tensor row_loss(backend_, 0, 1);
  for_each_chunk(*this, backend_, x, rows, chunk_rows, [&](const float* dx, const float* y, std::size_t n, std::size_t r0) {
    row_loss.reshape(n, 1);
    backend_.loss({LossKind::mse}, y, dx, nullptr, n, inputs(), 0.f, nullptr, row_loss.data());
    backend_.download(row_loss.data(), out.data() + r0, n);
  });
  return out;
}

void Network::backward(StepContext& ctx, float* d_output, const std::function<void(std::size_t)>& layer_done) {
  float* dy = d_output;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    Layer& layer = *layers_[i];
    if (i == activity_layer_ && spec_.activity_l2 > 0.0f && ctx.global_rows > 0)
      backend_.axpy(float(2.0 * spec_.activity_l2 / ctx.global_rows), activations_[i].data(), dy,
                    activations_[i].size());
    const float* x = i == 0 ? input_ : activations_[i - 1].data();
    float* dx = nullptr;
    if (i > 0) {
      Tensor& target = (dy == grad_a_.data()) ? grad_b_ : grad_a_;
      target.reshape(rows_, layer.input_width());
      dx = target.data();
    }
    layer.backward(ctx, x, activations_[i].data(), dy, rows_, dx);
    if (layer_done) layer_done(i);
    dy = dx;
  }
}

}  // namespace bsmhunt::nn
