#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/pipeline/Options.hpp"
#include "bsmhunt/stats/RunningStats.hpp"

namespace bsmhunt::pipeline {

// Train/validation/test from a hash of (seed, event number): the same event lands
// in the same split whatever the rank count or the order of reading.
struct SplitFractions {
  double train = 0.6, validation = 0.2;  // test = the rest
};
io::Split split_of(uint64_t event_number, uint64_t sample_stream, uint64_t seed, const SplitFractions& f);
// Parses "0.6,0.2" (train, validation); InputError unless both >= 0 and sum <= 1.
SplitFractions parse_split_fractions(std::string_view text);
// The fold (0 .. folds-1) of an event for k-fold training (train --folds): uniform from a
// hash of (event number, sample stream, seed) independent of split_of's, so the same on
// any rank count. docs/training.md gives the formula.
uint32_t fold_of(uint64_t event_number, uint64_t sample_stream, uint64_t seed, uint32_t folds);

// What to do with a feature whose object is missing (a third jet in a two-jet
// event) or whose value is flagged missing (-999 in HiggsML-style tables).
enum class PaddingPolicy {
  sentinel,      // pT-like features 0, angles the sentinel value (the thesis used 10)
  mean,          // the mean of the present values over all ranks (training split)
  drop_feature,  // remove every feature that is ever missing
  drop_event,    // remove events with any missing feature (counted in the cutflow)
  keep,          // import: leave the missing-value marker as it is (train --preprocess auto gives it an indicator)
};
PaddingPolicy parse_padding_policy(std::string_view text);
std::string_view to_string(PaddingPolicy p);

// The options every command writing a feature file shares (extract, import).
struct FeatureFileOptions {
  SplitFractions split;
  uint64_t seed = 1;
  io::WriteOptions write;  // --overwrite, --compression, --spool-memory
};
// The MC's luminosity of a feature or score file (its luminosity_ifb attribute), NaN
// when it states none.
double luminosity_ifb_of(const io::FeatureFileHeader& header);
// Data luminosity / MC luminosity of a feature or score file: below 1 when the
// pseudo-data hold less than the MC is normalised to (generate --data-lumi-ifb);
// 1 when the file states no luminosity.
double data_to_mc_luminosity(const io::FeatureFileHeader& header);

// --compression and --spool-memory of every command writing event, feature or score files
// (each declares its own --overwrite, whose help names what it replaces).
void add_write_options(po::options_description& d);
// --overwrite, --compression and --spool-memory as the output writers take them.
io::WriteOptions write_options_from(const po::variables_map& vm);
void add_feature_file_options(po::options_description& d, const FeatureFileOptions& defaults);
FeatureFileOptions feature_file_options_from(const po::variables_map& vm);

// Collective: refuses an output that is the input file, or that exists without overwrite.
void check_feature_output(const dist::Communicator& comm, const std::filesystem::path& input,
                          const std::filesystem::path& output, bool overwrite);

// The statistics written into a feature file (io) from those of the stats layer.
io::FeatureStatistics feature_statistics(const stats::FeatureMoments& moments);

// A parametrised model's score file has one column per point: a command that reads
// one score (efficiencies, anomaly) must be told which (InputError otherwise).
void require_score_column_choice(const io::FeatureFileHeader& scores, const std::string& score_column,
                                 const std::string& file);

}  // namespace bsmhunt::pipeline
