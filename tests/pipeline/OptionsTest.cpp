// The options files of the commands: parsed values, defaults, and the errors that
// name the option and what was expected.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/pipeline/Extract.hpp"
#include "bsmhunt/pipeline/Fit.hpp"
#include "bsmhunt/pipeline/Significance.hpp"
#include "bsmhunt/pipeline/Train.hpp"

using namespace bsmhunt;
using namespace bsmhunt::pipeline;

namespace {

po::variables_map parse(const std::string& command, const std::vector<std::string>& args) {
  po::variables_map vm;
  parse_command_line(command_named(command), args, vm, false);
  return vm;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Options, BinEdgesUniformLogarithmicAndExplicit) {
  EXPECT_EQ(parse_bin_edges("0:10:5", "--x"), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  const auto log_edges = parse_bin_edges("log:10:1000:2", "--x");
  ASSERT_EQ(log_edges.size(), 3u);
  EXPECT_EQ(log_edges.front(), 10.0);  // exactly, not exp(log(10))
  EXPECT_NEAR(log_edges[1], 100.0, 1e-12);
  EXPECT_EQ(log_edges.back(), 1000.0);
  EXPECT_EQ(parse_bin_edges(" 1, 2.5 ,7 ", "--x"), (std::vector<double>{1, 2.5, 7}));
  EXPECT_NE(error_of([] { parse_bin_edges("3,2", "--mass-bins"); }).find("--mass-bins '3,2': edges must increase"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_bin_edges("log:0:10:5", "--x"); }).find("LO > 0"), std::string::npos);
  EXPECT_NE(error_of([] { parse_bin_edges("1:2:0", "--x"); }).find("N >= 1"), std::string::npos);
  EXPECT_NE(error_of([] { parse_bin_edges("5", "--x"); }).find("at least two edges"), std::string::npos);
  EXPECT_NE(error_of([] { parse_numbers("1,x", "--y"); }).find("'x' is not a number"), std::string::npos);
}

TEST(Options, DefaultsOfTheOptionsFileAreTheConfigDefaults) {
  const ExtractConfig c = extract_config_from(parse("extract", {"--input", "e.h5", "--output", "f.h5"}));
  const ExtractConfig d;
  EXPECT_EQ(c.input, "e.h5");
  EXPECT_EQ(c.selection.met_min, d.selection.met_min);
  EXPECT_EQ(c.selection.lepton_pt_min, d.selection.lepton_pt_min);
  EXPECT_EQ(c.selection.require_sfos, d.selection.require_sfos);
  EXPECT_EQ(c.padding, d.padding);
  EXPECT_EQ(c.block_events, d.block_events);
  EXPECT_EQ(c.file.split.train, d.file.split.train);
  const SignificanceConfig s =
      significance_config_from(parse("significance", {"--scores", "s.h5", "--output", "out/r.json"}));
  EXPECT_EQ(s.output_h5, "out/r.h5");  // beside the JSON
  EXPECT_EQ(s.bins, SignificanceConfig().bins);
  EXPECT_TRUE(s.signals.empty());
}

TEST(Options, ValuesAreCheckedWhereTheyAreRead) {
  EXPECT_NE(error_of([] { extract_config_from(parse("extract", {"--input", "e.h5"})); })
                .find("--output FILE is required"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              extract_config_from(parse("extract", {"--input", "e", "--output", "f", "--block-events", "0"}));
            }).find("--block-events 0 must be positive"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              extract_config_from(parse("extract", {"--input", "e", "--output", "f", "--require", "sofs"}));
            }).find("did you mean 'sfos'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              significance_config_from(parse("significance", {"--scores", "s", "--output", "o", "--split", "tst"}));
            }).find("--split 'tst'"),
            std::string::npos);
  EXPECT_NE(error_of([] { fit_config_from(parse("fit", {"--input", "x.csv", "--output", "o", "--starts", "9"})); })
                .find("--starts 9: expected 1 to 5"),
            std::string::npos);
  EXPECT_NE(error_of([] { train_job_from(parse("train", {"--features", "f.h5", "--model", "resnet"})); })
                .find("--model 'resnet': expected mlp, autoencoder, bdt or cnn"),
            std::string::npos);
}

TEST(Options, AScanIsAConfigPerPointCheckedBeforeAnythingRuns) {
  const TrainJob job = train_job_from(parse(
      "train", {"--features", "f.h5", "--output", "dir/m.h5", "--scan", "grid", "--scan-params",
                "learning-rate=0.001|0.01;hidden=8|16,16"}));
  ASSERT_TRUE(job.scan);
  ASSERT_EQ(job.scan->points.size(), 4u);
  EXPECT_EQ(job.scan->keys, (std::vector<std::string>{"learning-rate", "hidden"}));
  EXPECT_EQ(job.scan->points[3].values, (std::vector<std::string>{"0.01", "16,16"}));
  EXPECT_EQ(job.scan->points[3].config.trainer.learning_rate, 0.01);
  EXPECT_EQ(job.scan->points[3].config.network.hidden, (std::vector<std::size_t>{16, 16}));
  EXPECT_EQ(job.scan->points[0].config.output, "dir/m_scan000.h5");
  EXPECT_NE(error_of([] {
              train_job_from(parse("train", {"--features", "f", "--output", "m.h5", "--scan", "grid", "--scan-params",
                                             "epochs=1|x"}));
            }).find("epochs=x is not a valid value"),
            std::string::npos);
}

TEST(Options, SignalRegionsAndSpectrumFormats) {
  const auto r = parse_signal_region(" 1900 , 2300 ");
  EXPECT_EQ(r.lo_GeV, 1900);
  EXPECT_EQ(r.hi_GeV, 2300);
  EXPECT_EQ(parse_signal_region("80:100").hi_GeV, 100);
  EXPECT_NE(error_of([] { parse_signal_region("2300,1900"); }).find("LO must be below HI"), std::string::npos);
  EXPECT_NE(error_of([] { parse_signal_region("1900"); }).find("expected LO,HI"), std::string::npos);
  EXPECT_EQ(parse_spectrum_format("hdf5"), SpectrumFormat::hdf5);
  EXPECT_NE(error_of([] { parse_spectrum_format("root"); }).find("expected auto, csv or hdf5"), std::string::npos);
}
