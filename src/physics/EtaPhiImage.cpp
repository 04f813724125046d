#include "bsmhunt/physics/EtaPhiImage.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::physics {

namespace {

using G = ImageGrid;

// Cell of (eta, phi), or false outside the grid; computed in double exactly like this
// (docs/monojet.md) so that an independent implementation finds the same cells.
bool cell_of(double eta, double phi, std::size_t& row, std::size_t& col) {
  const double r = std::floor((eta - G::eta_min) / G::cell), c = std::floor((phi - G::phi_min) / G::cell);
  if (!(r >= 0 && r < double(G::rows) && c >= 0 && c < double(G::cols))) return false;
  row = std::size_t(r), col = std::size_t(c);
  return true;
}

}  // namespace

const std::array<std::string, 10>& image_channel_names() {
  static const std::array<std::string, 10> names = {"sum_pt",       "n_particles", "sum_charge", "sum_pt_muons",
                                                    "sum_pt_electrons", "em_fraction", "sum_pt_jets", "jet_width",
                                                    "eta",          "phi"};
  return names;
}

uint64_t image_random_key(uint64_t seed, uint64_t sample_stream, uint64_t event_number) {
  return mix64(seed ^ mix64(sample_stream ^ mix64(event_number)));
}

std::vector<std::string> compression_names() { return {"none", "empty-rowcol", "empty-cell", "stochastic"}; }

Compression parse_compression(std::string_view name) {
  if (name == "none") return Compression::none;
  if (name == "empty-rowcol" || name == "empty_rowcol") return Compression::empty_rowcol;
  if (name == "empty-cell" || name == "empty_cell") return Compression::empty_cell;
  if (name == "stochastic") return Compression::stochastic;
  throw InputError(fmt::format("compression '{}' is unknown: expected {}{}", name, join(compression_names(), ", "),
                               did_you_mean(name, compression_names())));
}

std::string_view to_string(Compression c) {
  switch (c) {
    case Compression::none: return "none";
    case Compression::empty_rowcol: return "empty-rowcol";
    case Compression::empty_cell: return "empty-cell";
    case Compression::stochastic: return "stochastic";
  }
  return "?";
}

EtaPhiImage::Cell& EtaPhiImage::cell(std::size_t row, std::size_t col) {
  int32_t& i = index_[row * G::cols + col];
  if (i < 0) {
    i = int32_t(cells_.size());
    cells_.push_back({uint16_t(row), uint16_t(col), {}});
  }
  return cells_[std::size_t(i)];
}

void EtaPhiImage::fill(const EventBlock& block, std::size_t event) {
  if (!block.has_collection("particles"))
    throw InputError("eta-phi images need the 'particles' collection (an event file of the monojet channel)");
  const auto& p = block.collection("particles");
  const uint64_t p0 = p.offsets[event], p1 = p.offsets[event + 1];
  ParticleView pv{p.member("pt").as<float>().data() + p0, p.member("eta").as<float>().data() + p0,
                  p.member("phi").as<float>().data() + p0, p.member("charge").as<int8_t>().data() + p0,
                  p.member("pdg_id").as<int32_t>().data() + p0, p.member("em").as<int8_t>().data() + p0,
                  std::size_t(p1 - p0)};
  JetView jv{nullptr, nullptr, nullptr, nullptr, 0};
  if (block.has_collection("jets") && block.collection("jets").has_member("width")) {
    const auto& j = block.collection("jets");
    const uint64_t j0 = j.offsets[event], j1 = j.offsets[event + 1];
    jv = {j.member("pt").as<float>().data() + j0, j.member("eta").as<float>().data() + j0,
          j.member("phi").as<float>().data() + j0, j.member("width").as<float>().data() + j0, std::size_t(j1 - j0)};
  }
  fill(pv, jv);
}

void EtaPhiImage::fill(const ParticleView& p, const JetView& j) {
  for (const auto& c : cells_) index_[std::size_t(c.row) * G::cols + c.col] = -1;
  cells_.clear();
  std::size_t row = 0, col = 0;
  for (std::size_t i = 0; i < p.n; ++i) {
    if (!cell_of(p.eta[i], p.phi[i], row, col)) continue;
    auto& v = cell(row, col).v;
    const double pt = p.pt[i];
    const int pdg = std::abs(p.pdg_id[i]);
    v[0] += pt, v[1] += 1, v[2] += p.charge[i];
    if (pdg == 13) v[3] += pt;
    if (pdg == 11) v[4] += pt;
    if (p.em[i]) v[5] += pt;
  }
  for (std::size_t i = 0; i < j.n; ++i) {
    if (!cell_of(j.eta[i], j.phi[i], row, col)) continue;
    auto& v = cell(row, col).v;
    v[6] += j.pt[i], v[7] += double(j.pt[i]) * double(j.width[i]);
  }
  finish();
}

void EtaPhiImage::finish() {
  for (auto& c : cells_) {
    c.v[5] = c.v[0] > 0 ? c.v[5] / c.v[0] : 0.0;
    c.v[7] = c.v[6] > 0 ? c.v[7] / c.v[6] : 0.0;
  }
  // Rows then columns: the order every compression walks the cells in.
  std::sort(cells_.begin(), cells_.end(),
            [](const Cell& a, const Cell& b) { return a.row != b.row ? a.row < b.row : a.col < b.col; });
  for (std::size_t i = 0; i < cells_.size(); ++i) index_[std::size_t(cells_[i].row) * G::cols + cells_[i].col] = int32_t(i);
}

void EtaPhiImage::raw(float* out) const {
  std::fill(out, out + G::rows * G::cols * G::channels, 0.0f);
  for (const auto& c : cells_)
    for (std::size_t k = 0; k < G::channels; ++k) out[(std::size_t(c.row) * G::cols + c.col) * G::channels + k] = float(c.v[k]);
}

void EtaPhiImage::add_channel_sums(std::array<double, 8>& sum, std::array<uint64_t, 8>& count) const {
  for (const auto& c : cells_)
    for (std::size_t k = 0; k < G::channels; ++k)
      if (c.v[k] != 0) sum[k] += std::fabs(c.v[k]), ++count[k];
}

void EtaPhiImage::compress(Compression mode, const std::array<double, 8>& scales, uint64_t random_key,
                           float* out) const {
  std::fill(out, out + G::out_size, 0.0f);
  const auto put = [&](std::size_t r, std::size_t c, std::size_t row, std::size_t col) {
    float* dst = out + (r * G::out_cols + c) * G::out_channels;
    const int32_t i = index_[row * G::cols + col];
    if (i >= 0) {
      const auto& v = cells_[std::size_t(i)].v;
      for (std::size_t k = 0; k < G::channels; ++k) dst[k] = float(k == 1 ? v[k] : v[k] / scales[k]);
    }
    dst[8] = float((G::eta_min + (double(row) + 0.5) * G::cell) / 2.5);
    dst[9] = float((G::phi_min + (double(col) + 0.5) * G::cell) / 3.15);
  };
  // Rows and columns holding a non-empty cell, ascending (cells_ is sorted by row).
  std::vector<std::size_t> rows, cols;
  if (mode == Compression::empty_rowcol || mode == Compression::empty_cell) {
    std::array<bool, G::cols> col_used{};
    for (const auto& c : cells_) {
      if (rows.empty() || rows.back() != c.row) rows.push_back(c.row);
      col_used[c.col] = true;
    }
    for (std::size_t c = 0; c < G::cols; ++c)
      if (col_used[c]) cols.push_back(c);
  }
  switch (mode) {
    case Compression::none:
      for (std::size_t r = 0; r < G::out_rows; ++r)
        for (std::size_t c = 0; c < G::out_cols; ++c) put(r, c, 20 + r, 33 + c);
      return;
    case Compression::empty_rowcol:
      for (std::size_t r = 0; r < std::min(G::out_rows, rows.size()); ++r)
        for (std::size_t c = 0; c < std::min(G::out_cols, cols.size()); ++c) put(r, c, rows[r], cols[c]);
      return;
    case Compression::empty_cell: {
      std::size_t r = 0, c = 0, last_row = SIZE_MAX;
      for (const auto& cell : cells_) {
        if (cell.row != last_row) {
          if (last_row != SIZE_MAX) ++r;
          last_row = cell.row, c = 0;
        }
        if (r >= G::out_rows) break;
        if (c < G::out_cols) put(r, c++, cell.row, cell.col);
      }
      return;
    }
    case Compression::stochastic: {
      // 60 of the rows and 60 of the columns, uniformly without replacement (partial
      // Fisher-Yates keyed by the event), kept in ascending order.
      CounterRng rng(random_key, stable_hash("bsmhunt.images.stochastic"), 0);
      const auto choose = [&](std::size_t n, std::size_t k) {
        std::vector<std::size_t> all(n);
        for (std::size_t i = 0; i < n; ++i) all[i] = i;
        for (std::size_t i = 0; i < k; ++i) std::swap(all[i], all[i + std::size_t(rng.uniform() * double(n - i))]);
        all.resize(k);
        std::sort(all.begin(), all.end());
        return all;
      };
      rows = choose(G::rows, G::out_rows), cols = choose(G::cols, G::out_cols);
      for (std::size_t r = 0; r < G::out_rows; ++r)
        for (std::size_t c = 0; c < G::out_cols; ++c) put(r, c, rows[r], cols[c]);
      return;
    }
  }
}

}  // namespace bsmhunt::physics
