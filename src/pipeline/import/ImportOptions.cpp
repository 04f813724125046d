// Options of `bsmhunt import` and their mapping onto ImportConfig.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

#include "bsmhunt/pipeline/Import.hpp"
#include "../PythonTool.hpp"

namespace bsmhunt::pipeline {


void add_import_options(po::options_description& d) {
  const ImportConfig c;
  d.add_options()
      ("input", po::value<std::string>()->default_value(""),
       "table to import (positional): pandas DataFrame.to_hdf file, h5py file (one 1-D dataset per column), CSV, "
       "or ROOT files (--format root: comma-separated files or glob patterns, read in that order)")
      ("format", po::value<std::string>()->default_value("auto"),
       "pandas (to_hdf, format='fixed'), h5py, csv (header line, comma-separated), root (flat TTrees, every branch "
       "with one number per entry a column; read with uproot), or auto: root for .root files, csv unless the file "
       "is HDF5, then pandas if it holds a pandas object, else h5py")
      ("tree", po::value<std::string>()->default_value(c.tree),
       "root: the TTree to read (auto: the only tree of each file)")
      ("chunk-entries", po::value<int64_t>()->default_value(int64_t(c.chunk_entries)),
       "root: entries per uproot step (bounds the memory of the reading)")
      ("output,o", po::value<std::string>()->default_value(""), "output feature file (HDF5)")
      ("key", po::value<std::string>()->default_value(c.key),
       "HDF5 group: the pandas key (default: the only pandas object) or the h5py group (default: the root)")
      ("label-column", po::value<std::string>()->default_value(c.label_column),
       "column of labels (numbers, bools or strings; see --signal-labels); auto: the column called 'label' in any "
       "case; none: labels from --signal-samples")
      ("weight-column", po::value<std::string>()->default_value(c.weight_column),
       "column of event weights (copied as float64); auto: the column called 'weight' in any case, else weights "
       "are 1; none: weights are 1")
      ("mass-column", po::value<std::string>()->default_value(c.mass_column),
       "column copied to 'mass' (the resonant variable, e.g. m_jj); default: none, mass = 0")
      ("event-column", po::value<std::string>()->default_value(c.event_column),
       "column of event numbers (non-negative integers; they key the train/validation/test split); default: the "
       "0-based row index")
      ("sample-column", po::value<std::string>()->default_value(c.sample_column),
       "column naming each row's sample (one output sample per distinct value); default: two samples, "
       "'background' and 'signal', by label")
      ("signal-labels", po::value<std::string>()->default_value(join(c.signal_labels, ",")),
       "label values meaning signal (strings compared exactly, numbers by value)")
      ("background-labels", po::value<std::string>()->default_value(join(c.background_labels, ",")),
       "label values meaning background; any other label value is an error")
      ("signal-samples", po::value<std::string>()->default_value(""),
       "comma-separated values of --sample-column that are signal (the labels then come from the samples)")
      ("features", po::value<std::string>()->default_value(""),
       "comma-separated feature columns in this order (default: every numeric column but the label, weight, mass, "
       "event and sample columns)")
      ("drop-columns", po::value<std::string>()->default_value(""), "comma-separated columns that are not features")
      ("missing-value", po::value<std::string>()->default_value("-999"),
       "a feature equal to this value is missing (HiggsML uses -999.0); none: no value is missing")
      ("padding", po::value<std::string>()->default_value(std::string(to_string(c.padding))),
       "missing feature values: sentinel (replaced by --sentinel), mean (mean of the present training values over "
       "all ranks), drop-feature (features ever missing are left out), drop-event (rows are dropped, counted in the "
       "cutflow), keep (left equal to --missing-value: train --preprocess auto gives the network an indicator "
       "input per such feature)")
      ("sentinel", double_value(c.sentinel), "value replacing missing ones (--padding sentinel)")
      ("on-nonfinite", po::value<std::string>()->default_value("error"),
       "NaN or infinite feature, weight or mass: error (naming the column and row) or drop (the row, counted in the "
       "cutflow as failing 'finite')")
      ("block-rows", po::value<int64_t>()->default_value(int64_t(c.block_rows)),
       "rows per work item (ranks take items in turn; the file does not depend on the rank count)");
  add_interop_options(d);
  add_feature_file_options(d, c.file);
}

ImportConfig import_config_from(const po::variables_map& vm) {
  ImportConfig c;
  c.input = required(vm, "input",
                     "bsmhunt import: give the table to import, e.g. 'bsmhunt import --input table.h5 --output "
                     "features.h5'");
  c.output = required(vm, "output", "bsmhunt import: --output FILE is required");
  const std::string format = option<std::string>(vm, "format");
  c.root = format == "root" || (format == "auto" && c.input.string().ends_with(".root"));
  if (c.root) {
    c.root_files = expand_file_patterns(c.input.string(), "--input");
    c.format = io::TableFormat::h5py;
    c.source_description = join(c.root_files, ",");
  } else {
    c.format = io::parse_table_format(format);
  }
  c.tree = option<std::string>(vm, "tree");
  c.chunk_entries = positive_option(vm, "chunk-entries");
  c.python = option<std::string>(vm, "python");
  c.interop_script = option<std::string>(vm, "interop-script");
  c.key = option<std::string>(vm, "key");
  c.label_column = option<std::string>(vm, "label-column");
  c.weight_column = option<std::string>(vm, "weight-column");
  c.mass_column = option<std::string>(vm, "mass-column");
  c.event_column = option<std::string>(vm, "event-column");
  c.sample_column = option<std::string>(vm, "sample-column");
  c.signal_labels = list_option(vm, "signal-labels");
  c.background_labels = list_option(vm, "background-labels");
  c.signal_samples = list_option(vm, "signal-samples");
  c.features = list_option(vm, "features");
  c.drop_columns = list_option(vm, "drop-columns");
  const std::string missing = trim(option<std::string>(vm, "missing-value"));
  if (missing == "none" || missing.empty()) {
    c.missing_value.reset();
  } else {
    try {
      std::size_t used = 0;
      c.missing_value = std::stod(missing, &used);
      if (used != missing.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw InputError(fmt::format("--missing-value '{}': expected a number or 'none'", missing));
    }
    if (!std::isfinite(*c.missing_value))
      throw InputError("--missing-value must be a finite number or 'none' (NaN is handled by --on-nonfinite)");
  }
  c.padding = parse_padding_policy(option<std::string>(vm, "padding"));
  c.sentinel = option<double>(vm, "sentinel");
  if (!std::isfinite(c.sentinel)) throw InputError("--sentinel must be a finite number");
  c.drop_nonfinite = drop_nonfinite_option(vm);
  c.file = feature_file_options_from(vm);
  c.block_rows = positive_option(vm, "block-rows");
  return c;
}

}  // namespace bsmhunt::pipeline
