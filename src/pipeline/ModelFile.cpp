#include "ModelFile.hpp"

#include <fmt/format.h>

#include <cmath>
#include <thread>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/nn/Backend.hpp"

namespace bsmhunt::pipeline {

Preprocessing make_preprocessing(const io::FeatureFileReader& reader, const std::string& kind,
                                 const std::string& file) {
  const std::size_t F = reader.header().feature_names.size();
  Preprocessing p;
  p.kind = kind;
  p.offset.assign(F, 0.0), p.scale.assign(F, 1.0);
  if (kind == "none") return p;
  if (kind != "zscore" && kind != "minmax")
    throw InputError(fmt::format("--normalization '{}': expected zscore, minmax or none{}", kind,
                                 did_you_mean(kind, {"zscore", "minmax", "none"})));
  const auto& st = reader.statistics();
  if (st.mean.size() != F)
    throw InputError(fmt::format("{}: no /normalization statistics for {} features (write them with bsmhunt "
                                 "extract/import, or train with --normalization none)",
                                 file, F));
  for (std::size_t f = 0; f < F; ++f) {
    if (kind == "zscore") {
      p.offset[f] = st.mean[f];
      p.scale[f] = st.stddev[f] > 0 && std::isfinite(st.stddev[f]) ? 1.0 / st.stddev[f] : 1.0;
    } else {
      const double range = st.max[f] - st.min[f];
      p.offset[f] = st.min[f];
      p.scale[f] = range > 0 && std::isfinite(range) ? 1.0 / range : 1.0;
    }
  }
  return p;
}

void store_preprocessing(const Preprocessing& p, const std::vector<std::string>& names, Archive& a) {
  a.string_lists["preprocessing/feature_names"] = names;
  a.strings["preprocessing/normalization"] = p.kind;
  a.strings["preprocessing/description"] = "the network sees (x - offset) * scale for each feature, in this order";
  a.doubles["preprocessing/offset"] = p.offset;
  a.doubles["preprocessing/scale"] = p.scale;
}

Preprocessing load_preprocessing(const Archive& a, const std::string& what) {
  Preprocessing p;
  p.kind = a.string("preprocessing/normalization", what);
  p.offset = a.number_list("preprocessing/offset", what);
  p.scale = a.number_list("preprocessing/scale", what);
  if (p.offset.size() != p.scale.size())
    throw InputError(fmt::format("{}: preprocessing offset and scale differ in length", what));
  return p;
}

void set_cpu_threads(int requested, const dist::Communicator& comm) {
  int threads = requested;
  if (threads <= 0) {
    const int local_ranks = comm.split_shared().size();
    threads = std::max(1, int(std::thread::hardware_concurrency()) / std::max(local_ranks, 1));
  }
  nn::set_cpu_threads(threads);
}

}  // namespace bsmhunt::pipeline
