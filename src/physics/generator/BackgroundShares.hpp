#pragma once
// How the stored background events are shared among a channel's processes: in
// proportion to sqrt(expected yield), so that small processes still get enough
// events for their shapes, with a floor per process (private to the generator).
#include <cstdint>
#include <span>
#include <vector>

namespace bsmhunt::physics {

// Counts per process summing exactly to n_events (largest remainder), shares
// proportional to sqrt(max(0, yield)) with every share at least min_share (pinned
// shares are taken out and the others rescaled until none moves). Equal shares when
// every yield is zero.
std::vector<uint64_t> background_event_counts(std::span<const double> yields, uint64_t n_events, double min_share);

}  // namespace bsmhunt::physics
