#pragma once
// Private to train: the rows each rank trains on, read once, normalised, with the
// training weights of the weight policy (docs/training.md).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/nn/Preprocessing.hpp"
#include "bsmhunt/nn/Trainer.hpp"
#include "bsmhunt/pipeline/Train.hpp"
#include "../Parametrisation.hpp"

namespace bsmhunt::pipeline {

struct LoadedData {
  nn::Shard train, validation;
  std::vector<double> validation_analysis_weight;  // physics weights, for the AUC
  std::vector<int32_t> validation_label;
  int classes = 2;
  uint64_t global_signal_train = 0, global_background_train = 0;
  // cnn: which event each row is (its images are built from the event's particles).
  std::vector<int32_t> train_sample, validation_sample;
  std::vector<uint64_t> train_event, validation_event;
};

// Per sample of the file: trained on (signal and background of a classifier, the
// --train-on events of an autoencoder), minus --exclude-samples.
std::vector<bool> selected_samples(const io::FeatureFileHeader& header, const TrainConfig& config, bool autoencoder,
                                   const std::string& train_on);

// The feature columns the model takes: all of the file's but --exclude-features (an
// unknown name, or nothing left, is an InputError naming the option).
std::vector<std::size_t> input_columns(const io::FeatureFileHeader& header, const TrainConfig& config);

// The contiguous slice of the file's rows this rank trains on, balanced by the rows
// each rank will use (collective).
dist::Range balanced_range(const io::FeatureFileReader& reader, const dist::Communicator& comm,
                           const std::vector<bool>& use);

// Collective: reads this rank's rows [range) of the train and validation splits,
// normalised, with their training weights. With a parametrisation the rows end with
// the parameter inputs (signal: its sample's point; background: a drawn point), and
// each signal point weighs the same in total (the parameters alone then say nothing
// of the class); `prep` covers the features and then the parameter inputs. With
// --preprocess auto, `prep` is first fitted to the training rows of all ranks
// (fit_preprocessing); the rows then hold prep.outputs() values (indicators last).
LoadedData load_splits(const io::FeatureFileReader& reader, const TrainConfig& config, const dist::Communicator& comm,
                       dist::Range range, const std::vector<bool>& use, nn::Preprocessing& prep,
                       bool autoencoder, const Parametrisation* parametrisation = nullptr);

// --preprocess auto (docs/training.md), collective and bitwise rank-invariant: over the
// raw training rows (prep.features() values each), each of the first `features` inputs
// that has `missing_value` gets an indicator; one whose present values are >= 0 with a
// skewness above 1 is replaced by log(1 + x / mean); then `normalization` (zscore,
// minmax, none) of the present, transformed values. Returns a line for the log.
std::string fit_preprocessing(const dist::Communicator& comm, const nn::Shard& train, std::size_t features,
                              const std::vector<std::string>& names, const std::string& normalization,
                              double missing_value, nn::Preprocessing& prep);

// Collective: trains the BDT on rank 0 (XGBoost is one process) and writes the model
// file with the archive's provenance entries.
int train_bdt(const dist::Communicator& comm, const TrainConfig& config, const io::FeatureFileReader& reader,
              const std::vector<bool>& use, nn::Preprocessing& prep, Archive archive,
              const Parametrisation* parametrisation);

// cnn: replaces the feature rows of d.train and d.validation by eta-phi images built on
// demand from the events' particles (Shard::make_rows), with the channel scales of the
// training events of all ranks; records the image settings in `provenance`. Collective.
class ImageShards;
std::unique_ptr<ImageShards> make_image_shards(const dist::Communicator& comm, const TrainConfig& config,
                                               const io::FeatureFileReader& reader, LoadedData& d,
                                               Archive& provenance);

// Rewrites the preprocessing entries of a model archive made by train's provenance
// (after fit_preprocessing changed `prep`).
void store_preprocessing(const nn::Preprocessing& prep, Archive& archive);

// "sample-weights=mc class-balance=sum ..." for the log and the model file.
std::string policy_text(const WeightPolicy& weights);

}  // namespace bsmhunt::pipeline
