#pragma once
// Private to pipeline: what train writes beside the network and predict reads back.
#include <string>
#include <vector>

#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/FeatureFile.hpp"

namespace bsmhunt::pipeline {

// x' = (x - offset) * scale per feature, from the training-split statistics of the
// feature file: zscore (mean, 1/std), minmax (min, 1/(max - min)), none (0, 1).
struct Preprocessing {
  std::string kind = "zscore";
  std::vector<double> offset, scale;
};
Preprocessing make_preprocessing(const io::FeatureFileReader& reader, const std::string& kind,
                                 const std::string& file);
void store_preprocessing(const Preprocessing& p, const std::vector<std::string>& feature_names, Archive& a);
Preprocessing load_preprocessing(const Archive& a, const std::string& what);

// OpenBLAS threads per rank: `requested`, or (0) the node's cores shared among its ranks.
void set_cpu_threads(int requested, const dist::Communicator& comm);

}  // namespace bsmhunt::pipeline
