#pragma once
// `bsmhunt import`: a flat table (pandas to_hdf, h5py columns, CSV) -> feature file.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/TableReader.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"

namespace bsmhunt::pipeline {

struct ImportConfig {
  std::filesystem::path input, output;
  io::TableFormat format = io::TableFormat::automatic;
  std::string key;  // HDF5 group ("" = the only pandas object / the root group)

  // --format root: flat TTrees read through uproot (docs/import.md). The files (the
  // comma-separated --input, globs expanded, in that order) are staged by the ranks
  // in turn into HDF5 columns beside the output, then imported as one h5py table.
  bool root = false;
  std::vector<std::string> root_files;
  std::string tree = "auto";        // "auto": the file's only tree
  uint64_t chunk_entries = 100000;  // entries per uproot step (bounds the memory)
  std::string python = "auto", interop_script = "auto";
  std::string source_description;   // the source_file attribute ("" = the table read)

  // Special columns. "auto": a column of that name in any case if there is one
  // (label: required unless --signal-samples labels the rows; weight: else 1);
  // "none": no such column; "" (mass, event, sample): none.
  std::string label_column = "auto", weight_column = "auto";
  std::string mass_column, event_column, sample_column;
  // Label values meaning signal / background (strings compared exactly, numbers
  // by value: "1" matches 1, 1.0 and true).
  std::vector<std::string> signal_labels = {"s", "1"}, background_labels = {"b", "0"};
  // Values of the sample column that are signal (labels then come from these).
  std::vector<std::string> signal_samples;

  std::vector<std::string> features;             // empty: every numeric column but the special ones
  std::vector<std::string> drop_columns;         // not features
  std::optional<double> missing_value = -999.0;  // a feature equal to it is missing (nullopt: none)
  PaddingPolicy padding = PaddingPolicy::sentinel;
  double sentinel = 10.0;       // replaces missing values under PaddingPolicy::sentinel
  bool drop_nonfinite = false;  // false: NaN/Inf is an error; true: such rows are dropped and counted
  FeatureFileOptions file;
  uint64_t block_rows = 65536;  // rows per work item (the file does not depend on the rank count)
};

void add_import_options(po::options_description& options);
ImportConfig import_config_from(const po::variables_map& vm);

struct ImportResult {
  uint64_t rows_read = 0, rows_written = 0, dropped_nonfinite = 0, dropped_missing = 0;
  std::vector<std::string> features, samples;
  std::vector<std::string> dropped_features;  // by drop-feature
  double seconds = 0;
};

// Collective. Reads the table twice: a validation pass (labels, samples,
// non-finite values, missing values, means for imputation, the cutflow) and a
// writing pass. Work items of `block_rows` rows are dealt round-robin to ranks
// and appended in row order, so the output is identical for any rank count.
int run_import(const dist::Communicator& comm, const ImportConfig& config);

}  // namespace bsmhunt::pipeline
