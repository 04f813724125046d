#include "bsmhunt/pipeline/FeatureCommon.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/io/EventFile.hpp"

namespace bsmhunt::pipeline {

io::Split split_of(uint64_t event_number, uint64_t sample_stream, uint64_t seed, const SplitFractions& f) {
  const uint64_t h = mix64(event_number ^ mix64(sample_stream ^ mix64(seed)));
  const double u = double(h >> 11) * 0x1p-53;
  if (u < f.train) return io::Split::train;
  if (u < f.train + f.validation) return io::Split::validation;
  return io::Split::test;
}

uint32_t fold_of(uint64_t event_number, uint64_t sample_stream, uint64_t seed, uint32_t folds) {
  // The seed is salted ("kfold") so folds and splits are independent hashes.
  const uint64_t h = mix64(event_number ^ mix64(sample_stream ^ mix64(seed ^ 0x6b666f6c64ull)));
  return uint32_t((h >> 11) * uint64_t(folds) >> 53);
}

SplitFractions parse_split_fractions(std::string_view text) {
  const auto parts = split(text, ',');
  SplitFractions f;
  try {
    if (parts.size() != 2) throw std::invalid_argument("two numbers");
    f.train = std::stod(parts[0]);
    f.validation = std::stod(parts[1]);
  } catch (const std::exception&) {
    throw InputError(fmt::format("--split '{}': expected 'TRAIN,VALIDATION' fractions, e.g. 0.6,0.2", text));
  }
  if (f.train < 0 || f.validation < 0 || f.train + f.validation > 1.0 + 1e-12)
    throw InputError(fmt::format("--split '{}': fractions must be >= 0 and sum to at most 1", text));
  return f;
}

PaddingPolicy parse_padding_policy(std::string_view t) {
  if (t == "sentinel") return PaddingPolicy::sentinel;
  if (t == "mean") return PaddingPolicy::mean;
  if (t == "drop-feature" || t == "drop_feature") return PaddingPolicy::drop_feature;
  if (t == "drop-event" || t == "drop_event") return PaddingPolicy::drop_event;
  if (t == "keep") return PaddingPolicy::keep;
  throw InputError(fmt::format("--padding '{}': expected sentinel, mean, drop-feature, drop-event or keep{}", t,
                               did_you_mean(t, {"sentinel", "mean", "drop-feature", "drop-event", "keep"})));
}

std::string_view to_string(PaddingPolicy p) {
  switch (p) {
    case PaddingPolicy::sentinel: return "sentinel";
    case PaddingPolicy::mean: return "mean";
    case PaddingPolicy::drop_feature: return "drop-feature";
    case PaddingPolicy::drop_event: return "drop-event";
    case PaddingPolicy::keep: return "keep";
  }
  return "?";
}

double luminosity_ifb_of(const io::FeatureFileHeader& header) {
  for (const auto& a : header.attributes)
    if (a.name == "luminosity_ifb")
      if (const auto* lumi = std::get_if<double>(&a.value)) return *lumi;
  return std::numeric_limits<double>::quiet_NaN();
}

double data_to_mc_luminosity(const io::FeatureFileHeader& header) {
  const double lumi = luminosity_ifb_of(header);
  return lumi > 0 ? physics::data_luminosity_ifb(header.samples, lumi) / lumi : 1.0;
}

void add_write_options(po::options_description& d) {
  d.add_options()
      ("compression", po::value<std::string>()->default_value(io::to_string(io::Compression{})),
       "HDF5 compression of the output's datasets: deflate (byte shuffle + deflate level 1), deflate:LEVEL "
       "(1-9), or none (uncompressed chunks with a checksum; the fastest write)")
      ("spool-memory", po::value<uint64_t>()->default_value(io::kDefaultSpoolMemoryBytes >> 20),
       "MiB of output rows each rank keeps in memory until the final write; rows past it go to a spool file "
       "beside the output (OUTPUT.spool.RANK). 0: spool every row to disk");
}

io::WriteOptions write_options_from(const po::variables_map& vm) {
  io::WriteOptions w;
  w.overwrite = option<bool>(vm, "overwrite");
  w.compression = io::parse_compression(option<std::string>(vm, "compression"));
  const uint64_t mib = option<uint64_t>(vm, "spool-memory");
  if (mib > (uint64_t(1) << 30))
    throw InputError(fmt::format("--spool-memory {}: expected MiB (at most 2^30)", mib));
  w.spool_memory_bytes = mib << 20;
  return w;
}

void add_feature_file_options(po::options_description& d, const FeatureFileOptions& defaults) {
  d.add_options()
      ("split", po::value<std::string>()->default_value(fmt::format("{},{}", defaults.split.train, defaults.split.validation)),
       "train,validation fractions (test: the rest), from a hash of (seed, sample, event number)")
      ("seed", po::value<uint64_t>()->default_value(defaults.seed), "seed of the split hash")
      ("overwrite", switch_value(), "replace an existing output file");
  add_write_options(d);
}

FeatureFileOptions feature_file_options_from(const po::variables_map& vm) {
  FeatureFileOptions f;
  f.split = parse_split_fractions(option<std::string>(vm, "split"));
  f.seed = option<uint64_t>(vm, "seed");
  f.write = write_options_from(vm);
  return f;
}

void check_feature_output(const dist::Communicator& comm, const std::filesystem::path& input,
                          const std::filesystem::path& output, bool overwrite) {
  std::error_code ec;
  if (std::filesystem::exists(output, ec) && std::filesystem::exists(input, ec) &&
      std::filesystem::equivalent(input, output, ec))
    throw InputError(fmt::format("--output {} is the input file", output.string()));
  io::check_output_path(comm, output, overwrite);
}

io::FeatureStatistics feature_statistics(const stats::FeatureMoments& m) {
  return io::FeatureStatistics{m.mean, m.stddev, m.min, m.max, m.count};
}

void require_score_column_choice(const io::FeatureFileHeader& scores, const std::string& score_column,
                                 const std::string& file) {
  if (!score_column.empty()) return;
  for (const auto& a : scores.attributes)
    if (a.name == "parametrised_in")
      throw InputError(fmt::format("{}: a parametrised model's scores, one column per point ({}): choose one with "
                                   "--score-column",
                                   file, join(scores.feature_names, ", ")));
}

}  // namespace bsmhunt::pipeline
