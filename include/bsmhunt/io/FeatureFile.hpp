#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/Sample.hpp"

namespace bsmhunt::io {

inline constexpr const char* kFeatureFormat = "bsmhunt.features";
inline constexpr int64_t kFeatureFormatVersion = 1;
inline constexpr const char* kScoreFormat = "bsmhunt.scores";

// A score file (bsmhunt predict) has the layout of a feature file with the matrix
// named "score" (1-D when there is one score per event) and its columns named by
// "score_names"; it has no normalization or cutflow group.
enum class RowFileKind { features, scores };

// Train/validation/test membership, from a hash of the event number (never the rank).
enum class Split : int8_t { train = 0, validation = 1, test = 2 };

// Feature columns [first, first + size^2) shown as a [rows, size, size] dataset: an
// HDF5 virtual dataset over the feature matrix (no second copy of the values).
struct FeatureMatrixView {
  std::string name;
  std::size_t first = 0, size = 0;
  std::string description;
};

struct FeatureFileHeader {
  std::vector<std::string> feature_names;
  std::vector<std::string> feature_units;     // per feature, "" for dimensionless
  std::vector<physics::SampleInfo> samples;   // indexed by sample_index
  std::vector<physics::Parameter> attributes; // provenance: source file, feature set, selection, ...
  std::vector<FeatureMatrixView> matrix_views;
};

// Rows of a feature file in memory; `features` is row-major [size(), n_features].
struct FeatureBlock {
  std::size_t n_features = 0;
  std::vector<float> features;
  std::vector<double> weight;        // analysis weight (negative weights kept)
  std::vector<int32_t> label;        // 1 signal, 0 background (and data), class index for multi-class
  std::vector<int32_t> sample_index;
  std::vector<uint64_t> event_number;
  std::vector<float> mass;           // the resonant variable (m_ll, m_JJ)
  std::vector<int8_t> split;         // Split
  std::size_t size() const { return weight.size(); }
  void clear();
  void reserve(std::size_t rows);
  // Throws InternalError unless every column has size() rows.
  void check_consistent() const;
};

// Per-feature statistics of the training split, for normalisation at training time.
struct FeatureStatistics {
  std::vector<double> mean, stddev, min, max;
  uint64_t count = 0;
};

// Cutflow: events passing each cut, per sample, raw and weighted.
struct Cutflow {
  std::vector<std::string> cuts;        // in order; the first is "all"
  std::vector<std::vector<uint64_t>> raw;       // [sample][cut]
  std::vector<std::vector<double>> weighted;    // [sample][cut]
};

// Writes a feature file (docs/formats.md) with parallel HDF5, all ranks together,
// to "<output>.partial", renamed by commit(). An uncommitted writer removes it.
class FeatureFileWriter {
 public:
  FeatureFileWriter(const dist::Communicator& comm, std::filesystem::path output, WriteOptions options,
                    FeatureFileHeader header, RowFileKind kind = RowFileKind::features);
  ~FeatureFileWriter();
  FeatureFileWriter(const FeatureFileWriter&) = delete;
  FeatureFileWriter& operator=(const FeatureFileWriter&) = delete;
  // Collective ordered append: the blocks of one round follow each other in rank order.
  void append_round(const FeatureBlock& block);
  // Not collective: rows of work item `item` (file order is item order over all
  // ranks; the items of one rank must increase). Do not mix with append_round.
  void append_item(uint64_t item, const FeatureBlock& block);
  uint64_t rows() const;
  // Collective; every rank passes the same values.
  void write_statistics(const FeatureStatistics& stats);
  void write_cutflow(const Cutflow& cutflow);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class FeatureFileReader {
 public:
  FeatureFileReader(const dist::Communicator& comm, std::filesystem::path path,
                    RowFileKind kind = RowFileKind::features);
  ~FeatureFileReader();
  FeatureFileReader(const FeatureFileReader&) = delete;
  FeatureFileReader& operator=(const FeatureFileReader&) = delete;
  const FeatureFileHeader& header() const;
  uint64_t rows() const;
  const FeatureStatistics& statistics() const;  // empty vectors if the file has none
  const Cutflow& cutflow() const;
  // Rows [begin, end) into `block` (independent I/O).
  void read(uint64_t begin, uint64_t end, FeatureBlock& block) const;
  // Only the sample_index and split columns of rows [begin, end) (5 bytes a row):
  // enough to know which rows a stage will use before reading them.
  void read_membership(uint64_t begin, uint64_t end, std::vector<int32_t>& sample_index,
                       std::vector<int8_t>& split) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bsmhunt::io
