// The model file's preprocessing and the one inference path (Network::predict).
#include <gtest/gtest.h>

#include <cmath>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Preprocessing.hpp"

using namespace bsmhunt;
using namespace bsmhunt::nn;

TEST(Preprocessing, ZscoreOfChosenRowsByHand) {
  // Two features, rows 0, 2, 3 used: feature 0 = {1, 3, 5}, feature 1 = {2, 2, 2}.
  const std::vector<float> x = {1, 2, 100, 100, 3, 2, 5, 2};
  const Preprocessing p = Preprocessing::zscore_of(x, 2, {0, 2, 3});
  EXPECT_DOUBLE_EQ(p.offset[0], 3.0);
  EXPECT_DOUBLE_EQ(p.scale[0], 1.0 / std::sqrt(8.0 / 3.0));  // population std of {1, 3, 5}
  EXPECT_DOUBLE_EQ(p.offset[1], 2.0);
  EXPECT_DOUBLE_EQ(p.scale[1], 1.0);  // a constant feature keeps scale 1
  EXPECT_EQ(p.apply(0, 5.0f), float((5.0 - 3.0) / std::sqrt(8.0 / 3.0)));
  // apply_rows picks the model's columns out of a wider row.
  std::vector<float> out(2);
  p.apply_rows(std::vector<float>{9, 5, 7}.data(), 1, 3, {1, 0}, out.data());
  EXPECT_EQ(out[0], p.apply(0, 5.0f));
  EXPECT_EQ(out[1], p.apply(1, 9.0f));
}

TEST(Preprocessing, StoredAndLoadedThroughAnArchive) {
  Preprocessing p = Preprocessing::identity(3);
  p.kind = "minmax", p.offset = {1, 2, 3}, p.scale = {0.5, 0.25, 2};
  Archive a;
  p.store(a, {"a", "b", "c"});
  EXPECT_EQ(a.string_lists["preprocessing/feature_names"], (std::vector<std::string>{"a", "b", "c"}));
  const Preprocessing q = Preprocessing::load(a, "model.h5");
  EXPECT_EQ(q.kind, "minmax");
  EXPECT_EQ(q.offset, p.offset);
  EXPECT_EQ(q.scale, p.scale);
  a.doubles["preprocessing/scale"] = {1};
  EXPECT_THROW(Preprocessing::load(a, "model.h5"), InputError);
}

TEST(Preprocessing, LogAndMissingIndicatorsByHand) {
  // Feature 0: log(1 + max(x, 0) / 2), then (v - 0.5) * 2; feature 1: missing at -999,
  // (x - 1) * 0.5 otherwise; feature 2: neither, (x - 0) * 1.
  Preprocessing p = Preprocessing::identity(3);
  p.offset = {0.5, 1.0, 0.0}, p.scale = {2.0, 0.5, 1.0};
  p.log_scale = {2.0, 0.0, 0.0}, p.missing = {0, 1, 0}, p.missing_value = -999.0;
  ASSERT_EQ(p.indicators(), 1u);
  ASSERT_EQ(p.outputs(), 4u);
  std::vector<float> out(4);
  p.transform_row(std::vector<float>{6.0f, -999.0f, 7.0f}.data(), out.data());
  EXPECT_EQ(out, (std::vector<float>{float((std::log(4.0) - 0.5) * 2.0), 0.0f, 7.0f, 1.0f}));
  p.transform_row(std::vector<float>{-3.0f, 5.0f, -999.0f}.data(), out.data());  // x < 0 counts as 0
  EXPECT_EQ(out, (std::vector<float>{float((0.0 - 0.5) * 2.0), 2.0f, -999.0f, 0.0f}));
  // Widening in place gives each row's transform_row; apply_rows the same from wider rows.
  std::vector<float> rows = {6, -999, 7, -3, 5, -999, 0, 1, 2};
  std::vector<float> want(12);
  for (std::size_t r = 0; r < 3; ++r) p.transform_row(rows.data() + r * 3, want.data() + r * 4);
  std::vector<float> widened = rows;
  p.apply_in_place(widened, 3);
  EXPECT_EQ(widened, want);
  std::vector<float> wide = {0, 6, -999, 7, 0, -3, 5, -999, 0, 0, 1, 2}, picked(12);
  p.apply_rows(wide.data(), 3, 4, {1, 2, 3}, picked.data());
  EXPECT_EQ(picked, want);
  // Stored and loaded; damaged entries refused.
  Archive a;
  p.store(a, {"a", "b", "c"});
  const Preprocessing q = Preprocessing::load(a, "model.h5");
  EXPECT_EQ(q.log_scale, p.log_scale);
  EXPECT_EQ(q.missing, p.missing);
  EXPECT_EQ(q.missing_value, p.missing_value);
  Archive bad = a;
  bad.doubles["preprocessing/log_scale"] = {2.0, -1.0, 0.0};
  EXPECT_THROW(Preprocessing::load(bad, "model.h5"), InputError);
  bad = a;
  bad.doubles["preprocessing/missing"] = {0, 2, 0};
  EXPECT_THROW(Preprocessing::load(bad, "model.h5"), InputError);
  bad = a;
  bad.doubles["preprocessing/missing"] = {0, 1};
  EXPECT_THROW(Preprocessing::load(bad, "model.h5"), InputError);
}

TEST(Network, PredictIsTheSameBitsInAnyChunking) {
  // Every pass is padded to a multiple of 64 rows, so an event's score does not depend
  // on where its chunk ends (the rank count): BLAS kernels for remainders round otherwise.
  auto be = make_backend(DeviceKind::cpu);
  NetworkSpec spec;
  spec.inputs = 7, spec.hidden = {33, 17}, spec.outputs = 1;
  Network net(*be, spec);
  net.initialize(5);
  std::vector<float> x(301 * 7);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.37 * double(i)) * 3);
  const auto whole = net.predict(x.data(), 301);
  for (const std::size_t chunk : {1, 5, 63, 64, 65, 100}) EXPECT_EQ(net.predict(x.data(), 301, chunk), whole) << chunk;
  // A slice scored alone gives the same bits as within the whole.
  const auto tail = net.predict(x.data() + 150 * 7, 151);
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), whole.begin() + 150));
}

TEST(Network, PredictIsTheForwardPassInAnyChunking) {
  auto be = make_backend(DeviceKind::cpu);
  NetworkSpec spec;
  spec.inputs = 3, spec.hidden = {5}, spec.outputs = 2;
  Network net(*be, spec);
  net.initialize(7);
  std::vector<float> x(11 * 3);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(double(i)));
  LocalCollective local;
  StepContext ctx{*be, local, false, 0, nullptr, 0};
  Tensor dx(*be, 11, 3);
  be->upload(x.data(), dx.data(), x.size());
  std::vector<float> direct(22);
  be->download(net.forward(ctx, dx.data(), 11), direct.data(), direct.size());
  const auto all = net.predict(x.data(), 11);
  for (std::size_t i = 0; i < direct.size(); ++i) EXPECT_NEAR(all[i], direct[i], 1e-6f);
  const auto chunked = net.predict(x.data(), 11, 4);
  for (std::size_t i = 0; i < direct.size(); ++i) EXPECT_NEAR(chunked[i], direct[i], 1e-6f);
  EXPECT_TRUE(net.predict(x.data(), 0).empty());
  EXPECT_THROW(net.reconstruction_error(x.data(), 11), InputError);  // 3 inputs, 2 outputs
}

TEST(Network, ReconstructionErrorIsTheRowMeanSquaredDifference) {
  auto be = make_backend(DeviceKind::cpu);
  NetworkSpec spec;
  spec.model = "autoencoder", spec.inputs = 4, spec.hidden = {3}, spec.latent = 2, spec.outputs = 4;
  Network net(*be, spec);
  net.initialize(3);
  std::vector<float> x = {0.1f, -0.2f, 0.3f, 0.4f, 1, 2, 3, 4};
  const auto y = net.predict(x.data(), 2);
  const auto e = net.reconstruction_error(x.data(), 2);
  ASSERT_EQ(e.size(), 2u);
  for (std::size_t r = 0; r < 2; ++r) {
    double sum = 0;
    for (std::size_t j = 0; j < 4; ++j) sum += std::pow(double(y[r * 4 + j]) - double(x[r * 4 + j]), 2);
    EXPECT_NEAR(e[r], sum / 4, 1e-6 * (1 + sum));
  }
}
