#pragma once
#include <cstdint>

#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"

namespace bsmhunt::physics {

// What generating a range of stored events cost: attempts (including events
// rejected by the preselection) and their weights. Sums are order-independent, so
// tallies of ranks add up to the same bits for any partition.
struct GenerationTally {
  uint64_t n_generated = 0;
  uint64_t n_negative = 0;  // attempts with weight_mc < 0
  ExactSum sum_of_weights;  // of weight_mc over every attempt
  ExactSum abs_weights;     // of |weight_mc| over every attempt
  ExactSum stored_abs_weights;  // of |weight_mc| over the stored events
  // The preselection's acceptance: the stored events' share of the generated |weight|.
  // The count ratio where weights are +-1 (never negative, unlike a signed ratio of a
  // small sample); right where weights vary by slice (Drell-Yan), where counting is not.
  // The sign is independent of the kinematics, so |w| estimates the same as w.
  double acceptance() const {
    const double all = abs_weights.value();
    return all > 0 ? stored_abs_weights.value() / all : 0.0;
  }
  void add(const GenerationTally& o) {
    n_generated += o.n_generated;
    n_negative += o.n_negative;
    sum_of_weights.add(o.sum_of_weights);
    abs_weights.add(o.abs_weights);
    stored_abs_weights.add(o.stored_abs_weights);
  }
};

// Random stream of a sample: derived from its name, so adding or reordering
// samples leaves the others' events unchanged.
uint64_t sample_stream(const SampleInfo& sample);

// Appends stored events [first, first + count) of `sample` to `block` (a block of
// reco_event_schema(channel.content())). Event i is drawn from
// CounterRng(seed, sample_stream, i): the result depends on nothing else.
// Throws Error if the preselection rejects more than `max_attempts` in a row.
void generate_events(const Channel& channel, const SampleDefinition& sample, const GeneratorOptions& options,
                     uint64_t first, uint64_t count, EventBlock& block, GenerationTally& tally,
                     uint64_t max_attempts = 1'000'000);

}  // namespace bsmhunt::physics
