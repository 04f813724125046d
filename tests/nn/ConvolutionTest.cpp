// Convolution and max-pooling: the CPU ops against direct sums written out here,
// their backward ops against finite differences, the CNN models of the mono-jet study
// (shapes, whole-network gradients on a sample of parameters, learning), and the CUDA
// (cuDNN) ops against the CPU reference where a GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "CudaOrSkip.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Trainer.hpp"

using namespace bsmhunt;
using namespace bsmhunt::nn;

namespace {

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(gen);
  return v;
}

// The definition, one output at a time: y[n, oy, ox, co] = sum_{ky, kx, ci} x[n, iy, ix, ci] w[co, ky, kx, ci].
std::vector<float> direct_conv(const Conv2dShape& s, const std::vector<float>& x, const std::vector<float>& w,
                               std::size_t images) {
  std::vector<float> y(images * s.output_size(), 0.f);
  for (std::size_t n = 0; n < images; ++n)
    for (std::size_t oy = 0; oy < s.out_height(); ++oy)
      for (std::size_t ox = 0; ox < s.out_width(); ++ox)
        for (std::size_t co = 0; co < s.out_channels; ++co) {
          double sum = 0;
          for (std::size_t ky = 0; ky < s.kernel; ++ky)
            for (std::size_t kx = 0; kx < s.kernel; ++kx) {
              const long iy = long(oy * s.stride + ky) - long(s.pad), ix = long(ox * s.stride + kx) - long(s.pad);
              if (iy < 0 || ix < 0 || iy >= long(s.height) || ix >= long(s.width)) continue;
              for (std::size_t ci = 0; ci < s.in_channels; ++ci)
                sum += double(x[n * s.input_size() + (std::size_t(iy) * s.width + std::size_t(ix)) * s.in_channels + ci]) *
                       double(w[co * s.kernel * s.kernel * s.in_channels + (ky * s.kernel + kx) * s.in_channels + ci]);
            }
          y[n * s.output_size() + (oy * s.out_width() + ox) * s.out_channels + co] = float(sum);
        }
  return y;
}

// L = sum y * r: dL/dx and dL/dw from the backward ops, against central differences.
void check_conv_gradients(const Conv2dShape& s, std::size_t images) {
  auto be = make_backend(DeviceKind::cpu);
  auto x = random_vector(images * s.input_size(), 1), w = random_vector(s.weight_size(), 2, 0.5f),
       r = random_vector(images * s.output_size(), 3);
  std::vector<float> dx(x.size()), dw(w.size());
  be->conv2d_backward_data(s, r.data(), w.data(), dx.data(), images);
  be->conv2d_backward_filter(s, x.data(), r.data(), dw.data(), images);
  const auto loss = [&] {
    std::vector<float> y(images * s.output_size());
    be->conv2d_forward(s, x.data(), w.data(), y.data(), images);
    double l = 0;
    for (std::size_t i = 0; i < y.size(); ++i) l += double(y[i]) * r[i];
    return l;
  };
  const auto probe = [&](std::vector<float>& v, std::size_t i) {
    const float original = v[i], h = 1e-2f;
    v[i] = original + h;
    const double up = loss();
    v[i] = original - h;
    const double down = loss();
    v[i] = original;
    return (up - down) / (2.0 * h);  // exact up to rounding: L is linear in each argument
  };
  for (std::size_t i = 0; i < x.size(); i += 3) EXPECT_NEAR(dx[i], probe(x, i), 2e-3 * (1 + std::fabs(dx[i]))) << "dx " << i;
  for (std::size_t i = 0; i < w.size(); i += 2) EXPECT_NEAR(dw[i], probe(w, i), 2e-3 * (1 + std::fabs(dw[i]))) << "dw " << i;
}

}  // namespace

TEST(Convolution, ForwardMatchesTheDefinition) {
  auto be = make_backend(DeviceKind::cpu);
  for (const Conv2dShape s : {Conv2dShape{5, 6, 3, 4, 3, 1, 1}, Conv2dShape{7, 5, 2, 3, 3, 2, 1},
                              Conv2dShape{4, 4, 5, 2, 1, 1, 0}, Conv2dShape{6, 6, 1, 2, 3, 1, 0}}) {
    const std::size_t images = 3;
    const auto x = random_vector(images * s.input_size(), 4), w = random_vector(s.weight_size(), 5);
    std::vector<float> y(images * s.output_size());
    be->conv2d_forward(s, x.data(), w.data(), y.data(), images);
    const auto expected = direct_conv(s, x, w, images);
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], expected[i], 1e-4f * (1 + std::fabs(expected[i]))) << i;
  }
  // Output sizes: "same" padding keeps the size at stride 1 and halves it at stride 2.
  EXPECT_EQ((Conv2dShape{60, 60, 10, 64, 3, 1, 1}.out_height()), 60u);
  EXPECT_EQ((Conv2dShape{60, 60, 64, 256, 3, 2, 1}.out_width()), 30u);
  EXPECT_EQ((Conv2dShape{30, 30, 64, 256, 3, 2, 1}.out_width()), 15u);
}

TEST(Convolution, ABySHandExample) {
  // One 3x3 single-channel image, a 2x2 kernel, no padding: every output written out.
  auto be = make_backend(DeviceKind::cpu);
  const Conv2dShape s{3, 3, 1, 1, 2, 1, 0};
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 0, -1, 2};
  std::vector<float> y(4);
  be->conv2d_forward(s, x.data(), w.data(), y.data(), 1);
  // y00 = 1*1 + 2*0 + 4*(-1) + 5*2 = 7; y01 = 2 - 5 + 12 = 9; y10 = 4 - 7 + 16 = 13; y11 = 5 - 8 + 18 = 15
  EXPECT_EQ(y, (std::vector<float>{7, 9, 13, 15}));
}

TEST(Convolution, BackwardOpsMatchFiniteDifferences) {
  check_conv_gradients({5, 6, 3, 4, 3, 1, 1}, 2);
  check_conv_gradients({7, 5, 2, 3, 3, 2, 1}, 2);
  check_conv_gradients({4, 4, 5, 2, 1, 1, 0}, 3);
}

TEST(MaxPool, ForwardAndBackwardByHand) {
  auto be = make_backend(DeviceKind::cpu);
  // A 4x4 image with 2 channels; channel 1 is channel 0 negated.
  const Pool2dShape s{4, 4, 2, 2};
  std::vector<float> x(32);
  const float plane[16] = {1, 5, 2, 0, 3, 4, 8, 8, 0, 0, -1, -2, 0, 9, -3, -4};
  for (int i = 0; i < 16; ++i) x[2 * i] = plane[i], x[2 * i + 1] = -plane[i];
  std::vector<float> y(8);
  be->maxpool_forward(s, x.data(), y.data(), 1);
  EXPECT_EQ(y, (std::vector<float>{5, -1, 8, 0, 9, 0, -1, 4}));
  const std::vector<float> dy = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<float> dx(32, -1.f);
  be->maxpool_backward(s, x.data(), y.data(), dy.data(), dx.data(), 1);
  // Channel 0: maxima at (0,1) 5, (1,2) 8 (first of the two 8s), (3,1) 9, (2,2) -1.
  std::vector<float> expected(32, 0.f);
  expected[2 * 1] = 1, expected[2 * 6] = 3, expected[2 * 13] = 5, expected[2 * 10] = 7;
  // Channel 1 (negated): maxima -1 at (0,0), 0 at (0,3), 0 at (2,0) (the first of three zeros), 4 at (3,3).
  expected[2 * 0 + 1] = 2, expected[2 * 3 + 1] = 4, expected[2 * 8 + 1] = 6, expected[2 * 15 + 1] = 8;
  EXPECT_EQ(dx, expected);
}

TEST(MaxPool, BackwardMatchesFiniteDifferences) {
  auto be = make_backend(DeviceKind::cpu);
  const Pool2dShape s{6, 4, 3, 2};
  const std::size_t images = 2, in = images * 6 * 4 * 3, out = images * 3 * 2 * 3;
  auto x = random_vector(in, 7);  // distinct values: no ties within a window
  const auto r = random_vector(out, 8);
  std::vector<float> y(out), dx(in);
  be->maxpool_forward(s, x.data(), y.data(), images);
  be->maxpool_backward(s, x.data(), y.data(), r.data(), dx.data(), images);
  const auto loss = [&] {
    std::vector<float> yy(out);
    be->maxpool_forward(s, x.data(), yy.data(), images);
    double l = 0;
    for (std::size_t i = 0; i < out; ++i) l += double(yy[i]) * r[i];
    return l;
  };
  for (std::size_t i = 0; i < in; ++i) {
    const float original = x[i], h = 1e-4f;
    x[i] = original + h;
    const double up = loss();
    x[i] = original - h;
    const double down = loss();
    x[i] = original;
    EXPECT_NEAR(dx[i], (up - down) / (2 * h), 1e-2) << i;
  }
}

namespace {

NetworkSpec cnn(const std::string& architecture, std::size_t h, std::size_t w, std::size_t c) {
  NetworkSpec s;
  s.model = "cnn", s.cnn = architecture;
  s.image_height = h, s.image_width = w, s.image_channels = c, s.inputs = h * w * c;
  s.hidden = {8}, s.outputs = 2, s.dropout = 0.1f, s.activation = Activation::tanh;
  return s;
}

}  // namespace

TEST(Cnn, TheStudysModelsHaveTheirShapes) {
  auto be = make_backend(DeviceKind::cpu);
  NetworkSpec s = cnn("strides", 60, 60, 10);
  s.hidden = {128}, s.activation = Activation::relu;
  Network strides(*be, s);
  // conv 64, 128, 256/2, 128, 256/2, 1x1 128, dense 128, dropout, logits 2.
  ASSERT_EQ(strides.layers().size(), 9u);
  EXPECT_EQ(strides.layers()[4]->output_width(), 15u * 15u * 256u);
  EXPECT_EQ(strides.layers()[5]->output_width(), 15u * 15u * 128u);
  EXPECT_EQ(strides.outputs(), 2u);
  s.cnn = "max-pool";
  Network pooled(*be, s);
  ASSERT_EQ(pooled.layers().size(), 11u);  // two max-pool layers more
  EXPECT_EQ(pooled.layers()[3]->kind(), "maxpool");
  EXPECT_EQ(pooled.layers()[7]->output_width(), 15u * 15u * 128u);
  EXPECT_EQ(pooled.parameter_count(), strides.parameter_count());
  EXPECT_THROW(Network(*be, cnn("resnet", 8, 8, 2)), InputError);
  NetworkSpec wrong = cnn("strides", 8, 8, 2);
  wrong.inputs = 100;
  EXPECT_THROW((Network{*be, wrong}), InputError);
  EXPECT_THROW(Network(*be, cnn("max-pool", 3, 3, 1)), InputError);  // pooled to nothing
}

TEST(Cnn, WholeNetworkGradientAlongRandomDirections) {
  // dL/dt of L(theta + t v) by central differences against grad L . v, for random
  // directions v over all parameters: a check of every backward pass of the network at
  // once whose signal is far above the float32 rounding of the loss (a single parameter
  // of a deep network often has a derivative below it). The ops are checked one
  // parameter at a time above.
  auto be = make_backend(DeviceKind::cpu);
  for (const char* architecture : {"strides", "max-pool"}) {
    // Max-pool on 4x4 images: fewer pooling windows, fewer kinks along a direction.
    const bool small = std::string(architecture) == "max-pool";
    Network net(*be, cnn(architecture, small ? 4 : 8, small ? 4 : 8, 2));
    net.initialize(3);
    const std::size_t rows = 3;
    const auto x = random_vector(rows * net.inputs(), 11);
    const std::vector<float> target = {0, 1, 1}, weight = {1, 0.5f, 2};
    const auto loss = [&](std::vector<float>* gradient) {
      LocalCollective local;
      StepContext ctx{*be, local, false, 0, nullptr, double(rows)};  // no dropout: a smooth function of the weights
      const float* out = net.forward(ctx, x.data(), rows);
      std::vector<float> grad(rows * 2), row_loss(rows);
      be->loss({LossKind::softmax_ce}, out, target.data(), weight.data(), rows, 2, float(1.0 / rows), grad.data(),
               row_loss.data());
      if (gradient) {
        net.backward(ctx, grad.data());
        *gradient = net.gradients().to_host();
      }
      double l = 0;
      for (float v : row_loss) l += v;
      return l / rows;
    };
    std::vector<float> analytic;
    loss(&analytic);
    const auto params = net.parameters().to_host();
    const bool pooling = std::string(architecture) == "max-pool";
    // Small enough for the curvature (and mostly for the maximum of each pooling window
    // to stay on its pixel), large enough that the loss change is far above its rounding.
    const double t = pooling ? 1e-5 : 1e-4;
    unsigned smooth = 0;
    for (unsigned d = 0; d < 8; ++d) {
      const auto v = random_vector(params.size(), 100 + d, 1.0f);
      double slope = 0;
      for (std::size_t i = 0; i < v.size(); ++i) slope += double(analytic[i]) * v[i];
      const auto derivative = [&](double step) {
        const auto at = [&](double u) {
          std::vector<float> moved(params.size());
          for (std::size_t i = 0; i < params.size(); ++i) moved[i] = float(params[i] + u * v[i]);
          be->upload(moved.data(), net.parameters().data(), moved.size());
          return loss(nullptr);
        };
        const double value = (at(step) - at(-step)) / (2 * step);
        be->upload(params.data(), net.parameters().data(), params.size());
        return value;
      };
      const double numeric = derivative(t);
      // Along a direction where some window's maximum moves to another pixel inside the
      // probe, the loss has a kink and the quotients of two probe sizes disagree: such
      // directions are skipped; at least half of them must be smooth.
      if (std::fabs(derivative(0.5 * t) - numeric) > 3e-2 * std::fabs(numeric) + 2e-2) continue;
      ++smooth;
      // Max-pool: kinks just outside the smaller probe still bend the quotient by a few percent.
      EXPECT_NEAR(numeric, slope, (pooling ? 5e-2 : 2e-2) * std::fabs(slope) + 1e-2) << architecture << ", direction " << d;
    }
    EXPECT_GE(smooth, pooling ? 4u : 8u) << architecture;
  }
}

TEST(Cnn, LearnsToTellAVerticalFromAHorizontalBar) {
  // Images of 8x8 with a bright bar at a random place: vertical (class 1) or horizontal (0).
  auto be = make_backend(DeviceKind::cpu);
  const auto make = [](std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    Shard s;
    s.features = 64;
    for (std::size_t r = 0; r < n; ++r) {
      const bool vertical = r % 2;
      const std::size_t at = gen() % 8;
      for (std::size_t i = 0; i < 64; ++i) {
        const std::size_t row = i / 8, col = i % 8;
        s.x.push_back((vertical ? col == at : row == at) ? 1.f : 0.05f * float(gen() % 7));
      }
      s.target.push_back(vertical ? 1.f : 0.f);
      s.weight.push_back(1.f);
    }
    s.global_rows = n;
    return s;
  };
  const Shard train = make(256, 1), validation = make(64, 2);
  NetworkSpec spec = cnn("strides", 8, 8, 1);
  spec.activation = Activation::relu;
  Network net(*be, spec);
  net.initialize(5);
  TrainerConfig tc;
  tc.loss.kind = LossKind::softmax_ce;
  tc.learning_rate = 1e-3, tc.epochs = 6, tc.batch_size = 32, tc.patience = 0, tc.conv_l2 = 1e-4;
  LocalCollective local;
  Trainer trainer(*be, net, local, tc, train, validation);
  const double before = trainer.evaluate(validation);
  trainer.run({});
  const double after = trainer.evaluate(validation);
  EXPECT_LT(after, 0.25 * before);
  // Rows made on demand (the images path) train to the same bits as rows held in memory.
  Shard made = train;
  made.x.clear();
  made.make_rows = [&train](const uint32_t* local_rows, std::size_t n, float* out) {
    for (std::size_t i = 0; i < n; ++i)
      std::copy_n(train.x.data() + std::size_t(local_rows[i]) * 64, 64, out + i * 64);
  };
  Network a(*be, spec), b(*be, spec);
  a.initialize(9), b.initialize(9);
  tc.epochs = 1;
  Trainer ta(*be, a, local, tc, train, validation), tb(*be, b, local, tc, made, validation);
  ta.run({}), tb.run({});
  EXPECT_EQ(a.parameters().to_host(), b.parameters().to_host());
}

TEST(Convolution, CudaMatchesTheCpuReference) {
  BSMHUNT_CUDA_BACKEND_OR_SKIP(gpu);
  auto cpu = make_backend(DeviceKind::cpu);
  for (const Conv2dShape s : {Conv2dShape{12, 10, 3, 8, 3, 1, 1}, Conv2dShape{12, 12, 4, 6, 3, 2, 1},
                              Conv2dShape{6, 6, 8, 4, 1, 1, 0}}) {
    const std::size_t images = 5;
    const auto x = random_vector(images * s.input_size(), 21), w = random_vector(s.weight_size(), 22),
               dy = random_vector(images * s.output_size(), 23);
    const auto run = [&](Backend& be, int op) {
      const std::size_t out_n = op == 0 ? dy.size() : (op == 1 ? x.size() : w.size());
      float *dx = be.allocate(x.size()), *dw = be.allocate(w.size()), *ddy = be.allocate(dy.size()), *out = be.allocate(out_n);
      be.upload(x.data(), dx, x.size()), be.upload(w.data(), dw, w.size()), be.upload(dy.data(), ddy, dy.size());
      if (op == 0) be.conv2d_forward(s, dx, dw, out, images);
      if (op == 1) be.conv2d_backward_data(s, ddy, dw, out, images);
      if (op == 2) be.conv2d_backward_filter(s, dx, ddy, out, images);
      std::vector<float> host(out_n);
      be.download(out, host.data(), out_n);
      for (float* p : {dx, dw, ddy, out}) be.release(p);
      return host;
    };
    for (int op = 0; op < 3; ++op) {
      const auto a = run(*cpu, op), b = run(*gpu, op);
      double num = 0, den = 0;
      for (std::size_t i = 0; i < a.size(); ++i) num += std::pow(double(a[i]) - b[i], 2), den += double(a[i]) * a[i];
      EXPECT_LT(std::sqrt(num / std::max(den, 1e-30)), 1e-5) << "op " << op;
    }
  }
  const Pool2dShape p{8, 6, 3, 2};
  const auto x = random_vector(4 * 8 * 6 * 3, 31), dy = random_vector(4 * 4 * 3 * 3, 32);
  const auto pool = [&](Backend& be) {
    float *dx = be.allocate(x.size()), *y = be.allocate(dy.size()), *ddy = be.allocate(dy.size()), *g = be.allocate(x.size());
    be.upload(x.data(), dx, x.size()), be.upload(dy.data(), ddy, dy.size());
    be.maxpool_forward(p, dx, y, 4);
    be.maxpool_backward(p, dx, y, ddy, g, 4);
    std::vector<float> out(dy.size() + x.size());
    be.download(y, out.data(), dy.size());
    be.download(g, out.data() + dy.size(), x.size());
    for (float* q : {dx, y, ddy, g}) be.release(q);
    return out;
  };
  EXPECT_EQ(pool(*cpu), pool(*gpu));
}
