#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/physics/EventBlock.hpp"
#include "bsmhunt/physics/Sample.hpp"
#include "bsmhunt/physics/generator/RecoEvent.hpp"

namespace bsmhunt::physics {

struct GeneratorOptions {
  uint64_t seed = 1;
  uint64_t background_events = 1'000'000;  // stored background events, shared among processes
  uint64_t signal_events = 40'000;         // stored events per signal sample
  double lumi_ifb = 139.0;
  bool preselection = true;                // the channel's event-level preselection
  std::map<std::string, double> parameters;  // channel-specific knobs (e.g. "m_A_GeV")
  // True while the pseudo-data are drawn (set by `bsmhunt generate` on its copy of the
  // options): a channel may then apply data-like distortions that its knobs ask for.
  bool drawing_pseudo_data = false;
  double parameter(const std::string& key, double fallback) const {
    auto it = parameters.find(key);
    return it == parameters.end() ? fallback : it->second;
  }
};

// One sample a channel can generate, with the events to store.
struct SampleDefinition {
  SampleInfo info;            // n_generated / sum_of_weights are filled by the driver
  uint64_t n_events = 0;      // events to store (after preselection)
  int process = 0;            // channel-private process id
  double expected_events_hint = 0;  // sigma x k x eps x L before preselection, for sizing
};

// A physics channel of the built-in generator: a set of samples and a way to draw
// one event of each. Adding a channel = one file implementing this plus one line in
// Channels.cpp. Implementations must be stateless (const, thread-safe): every
// random number comes from the CounterRng the driver passes, which is keyed by
// (seed, sample, event index) and never by rank.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual RecoContent content() const = 0;
  virtual std::vector<SampleDefinition> samples(const GeneratorOptions& options) const = 0;
  // Draws one event of `sample` into `event` (cleared by the caller). Sets
  // event.weight_mc always; returns false when the event fails the preselection
  // (only if options.preselection), and the driver then draws again from the same
  // stream, counting the attempt in n_generated and sum_of_weights.
  virtual bool generate(const SampleDefinition& sample, const GeneratorOptions& options, CounterRng& rng,
                        RecoEvent& event) const = 0;
  // Relative weight of a background sample in the pseudo-data mix (its expected
  // yield is multiplied by it): 1 unless a channel knob mimics a mismodelled process.
  virtual double data_yield_scale(const SampleDefinition& /*sample*/, const GeneratorOptions& /*options*/) const {
    return 1.0;
  }
};

std::vector<std::string> channel_names();
// Throws InputError naming the unknown channel and the closest known one.
std::unique_ptr<Channel> make_channel(std::string_view name);

}  // namespace bsmhunt::physics
