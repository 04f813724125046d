#include "bsmhunt/physics/generator/Driver.hpp"

#include <cmath>

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::physics {

uint64_t sample_stream(const SampleInfo& sample) { return stable_hash(sample.name.c_str()); }

void generate_events(const Channel& channel, const SampleDefinition& sample, const GeneratorOptions& options,
                     uint64_t first, uint64_t count, EventBlock& block, GenerationTally& tally,
                     uint64_t max_attempts) {
  RecoEventAppender appender(block);
  RecoEvent event;
  const uint64_t stream = sample_stream(sample.info);
  for (uint64_t i = first; i < first + count; ++i) {
    CounterRng rng(options.seed, stream, i);
    for (uint64_t attempt = 1;; ++attempt) {
      event.clear();
      const bool accepted = channel.generate(sample, options, rng, event);
      ++tally.n_generated;
      tally.n_negative += event.weight_mc < 0;
      // The stored weight is float: sum exactly what a reader will see.
      const double stored_weight = double(float(event.weight_mc));
      tally.sum_of_weights.add(stored_weight);
      tally.abs_weights.add(std::fabs(stored_weight));
      if (accepted) {
        tally.stored_abs_weights.add(std::fabs(stored_weight));
        break;
      }
      if (attempt >= max_attempts)
        throw Error(fmt::format("generator channel '{}', sample '{}': the preselection rejected {} events in a "
                                "row; lower the cuts or disable the preselection",
                                channel.name(), sample.info.name, max_attempts));
    }
    appender.append(event, i);
  }
}

}  // namespace bsmhunt::physics
