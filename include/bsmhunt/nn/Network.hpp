#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/Tensor.hpp"

namespace bsmhunt::nn {

namespace onnx {
class Graph;
}

// What a layer needs to know about the step it runs in.
struct StepContext {
  Backend& backend;
  Collective& collective;      // batchnorm sums its statistics over the replicas
  bool training = false;
  uint64_t dropout_key = 0;    // fixed per (seed, step): masks do not depend on ranks
  const uint32_t* row_keys = nullptr;  // device: global batch position of each local row
  double global_rows = 0;      // rows of the global batch (all replicas)
};

// A named parameter array of a layer, for checkpoints a physicist can read.
struct ParameterShape {
  std::string name;                 // "weight", "bias", "gamma", "running_mean", ...
  std::vector<std::size_t> shape;   // weight: [inputs, outputs]
  std::size_t offset = 0;           // in the layer's parameter (or state) block
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual std::string kind() const = 0;         // "dense", "dropout", "batchnorm", "activation"
  virtual std::string describe() const = 0;     // "dense 26 -> 64, relu"
  virtual std::size_t input_width() const = 0;
  virtual std::size_t output_width() const = 0;
  virtual std::vector<ParameterShape> parameters() const { return {}; }  // trained
  virtual std::vector<ParameterShape> state() const { return {}; }       // not trained (running statistics)
  std::size_t parameter_count() const;
  std::size_t state_count() const;
  // Initial values (host), from a counter-based stream keyed by (seed, layer index).
  virtual void initialize(float* /*params*/, float* /*state*/, uint64_t /*seed*/, std::size_t /*layer_index*/) const {}
  // Points the layer into the network's flat buffers (device).
  void bind(float* params, float* grads, float* state) { params_ = params, grads_ = grads, state_ = state; }

  // y = layer(x) for `rows` local rows; y has rows x output_width().
  virtual void forward(StepContext& ctx, const float* x, std::size_t rows, float* y) = 0;
  // Given dy (may be modified), writes the parameter gradients (overwriting) and dx
  // (skipped when dx is null: the first layer needs no input gradient).
  virtual void backward(StepContext& ctx, const float* x, const float* y, float* dy, std::size_t rows, float* dx) = 0;

  // Appends the layer's evaluation-mode computation to an ONNX graph (nn/Onnx.hpp):
  // `x` names its input, [rows, width], or [rows, C, H, W] for an image layer; params
  // and state are its host values. Returns the name of its output.
  virtual std::string to_onnx(onnx::Graph& graph, const std::string& x, const float* params,
                              const float* state) const = 0;
  // Image layers (convolution, pooling) work on [rows, C, H, W]: their input {H, W, C}; others {}.
  virtual std::vector<std::size_t> image_input() const { return {}; }
  // Layers indifferent to the layout (activation, dropout).
  virtual bool any_layout() const { return false; }

 protected:
  float* params_ = nullptr;
  float* grads_ = nullptr;
  float* state_ = nullptr;
};

// What a network is made of, from the [train] options.
struct NetworkSpec {
  std::string model = "mlp";           // mlp | autoencoder
  std::size_t inputs = 0;
  std::vector<std::size_t> hidden{64, 64};  // mlp: hidden widths; autoencoder: encoder widths (decoder mirrors)
  std::size_t outputs = 1;             // mlp: 1 = binary logit, K > 1 = softmax logits
  std::size_t latent = 8;              // autoencoder bottleneck
  Activation activation = Activation::relu;
  float leaky_slope = 0.01f;
  float dropout = 0.0f;                // after each hidden activation
  bool batchnorm = false;              // dense -> batchnorm -> activation in hidden layers
  float activity_l2 = 0.0f;            // L2 on the activations of the last hidden (mlp) / latent (autoencoder) layer
  // cnn: one image per row, image_height x image_width x image_channels, channel last;
  // `cnn` names the architecture: "strides" or "max-pool" (the mono-jet study's models).
  std::size_t image_height = 0, image_width = 0, image_channels = 0;
  std::string cnn = "strides";
};

// The CNN architectures `NetworkSpec::cnn` names.
std::vector<std::string> cnn_architectures();

// A feed-forward stack with every parameter in one flat buffer (so gradients are
// all-reduced in a few contiguous buckets) and every non-trained buffer in another.
class Network {
 public:
  Network(Backend& backend, const NetworkSpec& spec);
  const NetworkSpec& spec() const { return spec_; }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  std::size_t parameter_count() const { return params_.size(); }
  std::size_t inputs() const { return spec_.inputs; }
  std::size_t outputs() const { return layers_.back()->output_width(); }
  // Rows per forward pass that keep the widest activation near the backend's
  // inference_pass_floats() (at most `limit`): on a GPU 2^26 floats (256 MB), all the
  // rows of a narrow MLP; on the CPU 1024 rows of a 64-wide MLP. At least 64 rows (a
  // CNN's images too): for_each_chunk pads every pass to a multiple of 64.
  std::size_t rows_per_pass(std::size_t limit) const;
  // First parameter index of each layer; layer_offsets()[layers().size()] = parameter_count().
  const std::vector<std::size_t>& layer_offsets() const { return param_offsets_; }

  void initialize(uint64_t seed);
  Tensor& parameters() { return params_; }
  Tensor& gradients() { return grads_; }
  Tensor& state() { return state_; }
  const Tensor& parameters() const { return params_; }
  const Tensor& state() const { return state_; }

  // Output of the last layer for `rows` rows of x (device, rows x inputs()).
  const float* forward(StepContext& ctx, const float* x, std::size_t rows);
  // Back-propagates d(loss)/d(output) (device, overwritten); gradients() is written.
  // `layer_done(i)` runs as soon as layer i's parameter gradients are final
  // (from the last layer down): the hook for overlapping the all-reduce.
  void backward(StepContext& ctx, float* d_output, const std::function<void(std::size_t)>& layer_done = {});
  // Inference, host to host (evaluation mode: no dropout, batchnorm with its running
  // statistics): the outputs (rows x outputs(), logits for a classifier) of `rows`
  // rows of x (rows x inputs()), evaluated `chunk_rows` rows at a time (0: rows_per_pass).
  std::vector<float> predict(const float* x, std::size_t rows, std::size_t chunk_rows = 0);
  // Inference of the same rows at `points` points that differ only in the inputs
  // [first, first + width) (a parametrised classifier's signal parameters): point p
  // replaces them by point_inputs[p * width, (p + 1) * width), and x's own values there
  // are ignored. Returns [rows, points, outputs()]. Where the first layer is dense, its
  // product over the other inputs is computed once per row and shared by the points
  // (the varying inputs' part and the bias are a per-point shift): a point's outputs
  // do not depend on which other points are evaluated, nor on the rows' chunking.
  std::vector<float> predict_at_points(const float* x, std::size_t rows, std::size_t first, std::size_t width,
                                       const float* point_inputs, std::size_t points, std::size_t chunk_rows = 0);
  // Appends the network's inference (as predict: logits, or the reconstruction) to an
  // ONNX graph whose tensor `x` holds the rows [N, inputs()] (a CNN's images NHWC,
  // flattened per row, as predict takes them); returns the output tensor [N, outputs()].
  std::string to_onnx(onnx::Graph& graph, const std::string& x) const;
  // The per-row mean squared difference between output and input (the autoencoder's
  // anomaly score), host to host.
  std::vector<float> reconstruction_error(const float* x, std::size_t rows, std::size_t chunk_rows = 0);

  // Sum over the rows of the forward pass of the activity penalty activity_l2 * sum a^2
  // (training only; 0 when off), computed in forward.
  double activity_penalty_sum() const { return activity_penalty_; }

 private:
  void build_cnn(Backend& backend, const NetworkSpec& spec);
  // forward() from layer `first` on, given that layer's input.
  const float* forward_from(StepContext& ctx, std::size_t first, const float* in, std::size_t rows);
  NetworkSpec spec_;
  Backend& backend_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::size_t> param_offsets_, state_offsets_;
  Tensor params_, grads_, state_;
  std::vector<Tensor> activations_;  // activations_[i] = output of layer i
  Tensor grad_a_, grad_b_;
  const float* input_ = nullptr;
  std::size_t rows_ = 0;
  std::size_t activity_layer_ = 0;
  double activity_penalty_ = 0;
};

}  // namespace bsmhunt::nn
