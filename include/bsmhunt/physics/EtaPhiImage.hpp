#pragma once
// Eta-phi images of whole events (analysis E, docs/monojet.md "Images"): 8 channels on
// a 100 x 126 grid of 0.05 x 0.05 cells over |eta| < 2.5 and phi in [-3.15, 3.15),
// each channel but the count divided by a training scale, two coordinate channels,
// one of the study's compressions, and the crop to 60 x 60 x 10 (channel last).
// Built per event from the particle and jet collections, never stored for all events.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/physics/EventBlock.hpp"

namespace bsmhunt::physics {

struct ImageGrid {
  static constexpr std::size_t rows = 100, cols = 126;       // eta, phi
  static constexpr double eta_min = -2.5, phi_min = -3.15, cell = 0.05;
  static constexpr std::size_t channels = 8;                 // physics channels
  static constexpr std::size_t out_rows = 60, out_cols = 60, out_channels = 10;  // + 2 coordinates
  static constexpr std::size_t out_size = out_rows * out_cols * out_channels;
};

// Channel names, in order: the 8 physics channels, then eta and phi of the cell.
const std::array<std::string, 10>& image_channel_names();

enum class Compression { none, empty_rowcol, empty_cell, stochastic };
// The key of an event's stochastic compression: its identity, never its position or rank.
uint64_t image_random_key(uint64_t seed, uint64_t sample_stream, uint64_t event_number);
std::vector<std::string> compression_names();
Compression parse_compression(std::string_view name);  // InputError naming the known ones
std::string_view to_string(Compression c);

// The raw (unnormalised) channels of one event's non-empty cells; reused across events.
class EtaPhiImage {
 public:
  // Reads event i of the block (collections "particles" and "jets"; InputError if the
  // block has no particles).
  void fill(const EventBlock& block, std::size_t event);
  // The same from plain arrays (tests, other loaders).
  struct ParticleView {
    const float *pt, *eta, *phi;
    const int8_t* charge;
    const int32_t* pdg_id;
    const int8_t* em;
    std::size_t n;
  };
  struct JetView {
    const float *pt, *eta, *phi, *width;
    std::size_t n;
  };
  void fill(const ParticleView& particles, const JetView& jets);

  // The raw image, rows x cols x 8 (zeros where empty).
  void raw(float* out) const;
  // The network input: channels divided by `scales` (scale of the count ignored), the
  // coordinate channels, the compression, the crop: out_rows x out_cols x 10.
  // `random_key` seeds the stochastic compression (from the event's identity).
  void compress(Compression c, const std::array<double, 8>& scales, uint64_t random_key, float* out) const;
  // Adds |value| and 1 for every non-zero cell value of channel k to sum[k], count[k]
  // (the per-channel normalisation scales are sum / count over the training events).
  void add_channel_sums(std::array<double, 8>& sum, std::array<uint64_t, 8>& count) const;
  std::size_t nonempty_cells() const { return cells_.size(); }

 private:
  struct Cell {
    uint16_t row, col;
    std::array<double, 8> v;  // c5 holds the em pT sum and c7 the pT x width sum until finish()
  };
  Cell& cell(std::size_t row, std::size_t col);
  void finish();
  std::vector<Cell> cells_;
  std::vector<int32_t> index_ = std::vector<int32_t>(ImageGrid::rows * ImageGrid::cols, -1);
};

}  // namespace bsmhunt::physics
