// Finite-difference checks of every backward pass: each layer kind, each loss, the
// regularisers, and whole mlp / autoencoder networks. The analytic gradient of the
// scalar L = sum_r w_r l_r / N (+ penalties) is compared with central differences.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Network.hpp"

using namespace bsmhunt::nn;

namespace {

struct Problem {
  std::size_t rows = 16;
  std::vector<float> x, target, weight;
  std::vector<uint32_t> keys;
};

Problem make_problem(std::size_t rows, std::size_t inputs, std::size_t target_cols, LossKind kind, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> u(0.2f, 2.f);
  Problem p;
  p.rows = rows;
  for (std::size_t i = 0; i < rows * inputs; ++i) p.x.push_back(normal(gen));
  for (std::size_t r = 0; r < rows; ++r) {
    p.weight.push_back(u(gen));
    p.keys.push_back(uint32_t(r));
    if (kind == LossKind::softmax_ce) p.target.push_back(float(r % target_cols));
    else if (kind == LossKind::mse) for (std::size_t c = 0; c < target_cols; ++c) p.target.push_back(normal(gen));
    else p.target.push_back(float(r % 2));
  }
  return p;
}

// Loss of the network on the problem in training mode (fixed dropout key), and
// optionally its gradient with respect to every parameter.
double loss_of(Backend& be, Network& net, const Problem& p, const LossParams& loss, std::vector<float>* gradient) {
  LocalCollective local;
  Tensor x(be, p.rows, net.inputs()), t(be, 1, p.target.size()), w(be, p.rows, 1);
  be.upload(p.x.data(), x.data(), p.x.size());
  be.upload(p.target.data(), t.data(), p.target.size());
  be.upload(p.weight.data(), w.data(), p.weight.size());
  auto* keys = static_cast<uint32_t*>(be.allocate_bytes(p.rows * 4));
  be.to_device(p.keys.data(), keys, p.rows * 4);
  // Batchnorm running statistics change with every training forward: restore them.
  const auto state = net.state().to_host();
  StepContext ctx{be, local, true, 777, keys, double(p.rows)};
  const float* out = net.forward(ctx, x.data(), p.rows);
  Tensor grad(be, p.rows, net.outputs()), row_loss(be, p.rows, 1);
  be.loss(loss, out, loss.kind == LossKind::mse && net.spec().model == "autoencoder" ? x.data() : t.data(), w.data(),
          p.rows, net.outputs(), float(1.0 / p.rows), grad.data(), row_loss.data());
  const double value = (be.reduce(row_loss.data(), p.rows, Reduction::sum) + net.activity_penalty_sum()) / p.rows;
  if (gradient) {
    net.backward(ctx, grad.data());
    *gradient = net.gradients().to_host();
  }
  be.upload(state.data(), net.state().data(), state.size());
  be.release(keys);
  return value;
}

// Max over parameters of |analytic - numeric| / max(1e-3, |analytic| + |numeric|).
void expect_gradient_matches(Network& net, const Problem& p, const LossParams& loss, const char* what,
                             double tolerance = 2e-2, float step = 1e-2f) {
  auto be = make_backend(DeviceKind::cpu);
  Backend& b = net.parameters().backend();
  std::vector<float> analytic;
  loss_of(b, net, p, loss, &analytic);
  auto params = net.parameters().to_host();
  ASSERT_EQ(analytic.size(), params.size());
  double worst = 0;
  std::size_t worst_index = 0, checked = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const float original = params[i];
    const float h = step * std::max(1.0f, std::fabs(original));
    params[i] = original + h;
    b.upload(params.data(), net.parameters().data(), params.size());
    const double up = loss_of(b, net, p, loss, nullptr);
    params[i] = original - h;
    b.upload(params.data(), net.parameters().data(), params.size());
    const double down = loss_of(b, net, p, loss, nullptr);
    params[i] = original;
    b.upload(params.data(), net.parameters().data(), params.size());
    const double numeric = (up - down) / (2.0 * h);
    const double err = std::fabs(numeric - analytic[i]) / std::max(1e-3, std::fabs(numeric) + std::fabs(analytic[i]));
    ++checked;
    if (err > worst) worst = err, worst_index = i;
  }
  EXPECT_LT(worst, tolerance) << what << ": parameter " << worst_index << " of " << checked << ", analytic "
                              << analytic[worst_index];
  EXPECT_GT(checked, 0u);
}

NetworkSpec mlp(std::size_t inputs, std::vector<std::size_t> hidden, Activation act, std::size_t outputs = 1) {
  NetworkSpec s;
  s.inputs = inputs, s.hidden = std::move(hidden), s.activation = act, s.outputs = outputs;
  return s;
}

}  // namespace

TEST(Gradients, DenseLayersWithEveryActivation) {
  auto be = make_backend(DeviceKind::cpu);
  for (auto act : {Activation::tanh, Activation::sigmoid, Activation::linear, Activation::leaky_relu, Activation::relu}) {
    Network net(*be, mlp(4, {6, 5}, act));
    net.initialize(4);  // no pre-activation of this draw lies within a probe of a kink
    // A kink of (leaky) relu between the two probes spoils the difference quotient:
    // smaller probes there, and a bound that allows their float rounding.
    const bool kink = act == Activation::relu || act == Activation::leaky_relu;
    expect_gradient_matches(net, make_problem(12, 4, 1, LossKind::bce_logits, 5), {LossKind::bce_logits},
                            std::string(to_string(act)).c_str(), kink ? 3e-2 : 1e-2, kink ? 1e-3f : 1e-2f);
  }
}

TEST(Gradients, EveryLoss) {
  auto be = make_backend(DeviceKind::cpu);
  {
    Network net(*be, mlp(3, {5}, Activation::tanh));
    net.initialize(7);
    expect_gradient_matches(net, make_problem(10, 3, 1, LossKind::bce_logits, 1), {LossKind::bce_logits, 0.1f},
                            "bce + label smoothing", 1e-2);
    expect_gradient_matches(net, make_problem(10, 3, 1, LossKind::focal, 2), {LossKind::focal, 0.f, 2.f, 0.25f},
                            "focal gamma 2 alpha 0.25", 1e-2);
    expect_gradient_matches(net, make_problem(10, 3, 1, LossKind::focal, 2), {LossKind::focal, 0.f, 0.5f, -1.f},
                            "focal gamma 0.5", 1e-2);
  }
  {
    Network net(*be, mlp(3, {5}, Activation::tanh, 4));
    net.initialize(8);
    expect_gradient_matches(net, make_problem(10, 3, 4, LossKind::softmax_ce, 3), {LossKind::softmax_ce, 0.1f},
                            "softmax cross-entropy", 1e-2);
    expect_gradient_matches(net, make_problem(10, 3, 4, LossKind::mse, 4), {LossKind::mse}, "mse", 1e-2);
  }
}

TEST(Gradients, BatchNormDropoutAndActivityPenalty) {
  auto be = make_backend(DeviceKind::cpu);
  NetworkSpec s = mlp(4, {6, 5}, Activation::tanh);
  s.batchnorm = true;
  s.dropout = 0.3f;
  s.activity_l2 = 0.05f;
  Network net(*be, s);
  net.initialize(11);
  // Perturb gamma/beta away from 1/0 so their gradients are generic.
  auto p = net.parameters().to_host();
  for (std::size_t i = 0; i < p.size(); ++i) p[i] += 0.1f * std::sin(float(i));
  be->upload(p.data(), net.parameters().data(), p.size());
  expect_gradient_matches(net, make_problem(14, 4, 1, LossKind::bce_logits, 6), {LossKind::bce_logits},
                          "batchnorm + dropout + activity L2", 1e-2);
}

TEST(Gradients, AutoencoderReconstruction) {
  auto be = make_backend(DeviceKind::cpu);
  NetworkSpec s;
  s.model = "autoencoder";
  s.inputs = 5, s.hidden = {4}, s.latent = 2, s.activation = Activation::tanh, s.activity_l2 = 0.01f;
  Network net(*be, s);
  net.initialize(12);
  EXPECT_EQ(net.outputs(), 5u);
  expect_gradient_matches(net, make_problem(9, 5, 5, LossKind::mse, 7), {LossKind::mse}, "autoencoder", 1e-2);
}
