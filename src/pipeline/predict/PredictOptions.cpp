// Options of `bsmhunt predict` and their mapping onto PredictConfig.
#include "bsmhunt/pipeline/Predict.hpp"
#include "bsmhunt/pipeline/FeatureCommon.hpp"

namespace bsmhunt::pipeline {

void add_predict_options(po::options_description& d) {
  const PredictConfig c;
  d.add_options()
      ("model", po::value<std::string>()->default_value(""), "model file from bsmhunt train")
      ("features", po::value<std::string>()->default_value(""), "feature file to score (every event of every split)")
      ("output,o", po::value<std::string>()->default_value(""), "score file to write (HDF5)")
      ("events", po::value<std::string>()->default_value(""),
       "cnn: the event file with the particles (default: the feature file's source_file)")
      ("at", po::value<std::string>()->default_value("all"),
       "parametrised models: the points to score every event at, one score column each: all (the training points), "
       "values of a single numeric parameter '130,250,700', or 'm_zprime_GeV=130,theory=DH; m_zprime_GeV=250,...'")
      ("fold", po::value<int>()->default_value(-1),
       "k-fold models (train --folds): -1 scores every event with the model that did not train on its fold "
       "(out-of-fold); K scores every event with fold K's model (for checks)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu | cuda")
      ("overwrite", switch_value(), "replace an existing score file")
      ("chunk-rows", po::value<uint64_t>()->default_value(c.chunk_rows), "events per rank per batch")
      ("blas-threads", po::value<int>()->default_value(1),
       "BLAS threads per rank (0: the node's cores / its ranks). 1, the default, gives the same bits for any rank "
       "count and chunking: OpenBLAS splits a product among threads by its size, and a row's last bit can then "
       "depend on which rows share its chunk; use a rank per core instead");
  add_write_options(d);
}

PredictConfig predict_config_from(const po::variables_map& vm) {
  PredictConfig c;
  c.model = required(vm, "model", "bsmhunt predict: --model MODEL.h5 is required");
  c.features = required(vm, "features", "bsmhunt predict: --features FILE is required");
  c.output = required(vm, "output", "bsmhunt predict: --output SCORES.h5 is required");
  c.events = option<std::string>(vm, "events");
  c.at = option<std::string>(vm, "at");
  c.fold = option<int>(vm, "fold");
  c.device = nn::parse_device(option<std::string>(vm, "device"));
  c.write = write_options_from(vm);
  c.chunk_rows = option<uint64_t>(vm, "chunk-rows");
  if (c.chunk_rows == 0) throw InputError("--chunk-rows 0: expected at least 1 event per rank per batch");
  c.blas_threads = option<int>(vm, "blas-threads");
  return c;
}

}  // namespace bsmhunt::pipeline
