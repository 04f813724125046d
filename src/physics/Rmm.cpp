#include "bsmhunt/physics/Rmm.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::physics {

void rapidity_mass_matrix(const RmmLayout& layout, double met, double met_phi,
                          std::span<const std::vector<FourVector>> objects, std::span<double> out) {
  const std::size_t d = layout.size();
  if (objects.size() != layout.types)
    throw Error(fmt::format("rapidity_mass_matrix: {} object types given for a layout of {}", objects.size(),
                            layout.types));
  if (out.size() != d * d)
    throw Error(fmt::format("rapidity_mass_matrix: output of {} cells for a {}x{} matrix", out.size(), d, d));
  std::fill(out.begin(), out.end(), 0.0);
  auto cell = [&](std::size_t i, std::size_t j) -> double& { return out[i * d + j]; };
  const double c = layout.angle_scale, inv_sqrt_s = 1.0 / layout.sqrt_s;

  // The objects in matrix order, with their index, ET and rapidity.
  struct Entry {
    std::size_t index;
    FourVector p;
    double et, y;
  };
  std::vector<Entry> entries;
  entries.reserve(layout.types * layout.slots);
  for (std::size_t t = 0; t < layout.types; ++t) {
    const std::size_t n = std::min(objects[t].size(), layout.slots);
    for (std::size_t k = 0; k < n; ++k) {
      const FourVector& p = objects[t][k];
      const double et = p.et();
      const std::size_t i = layout.index(t, k);
      entries.push_back({i, p, et, p.rapidity()});
      // Diagonal: ET of the leading object of a type, then the relative drop from the
      // previous object of the same type (in [0, 1) for pT-ordered objects).
      if (k == 0) {
        cell(i, i) = et * inv_sqrt_s;
      } else {
        const double prev = entries[entries.size() - 2].et;
        cell(i, i) = prev + et > 0 ? (prev - et) / (prev + et) : 0.0;
      }
    }
  }

  cell(0, 0) = met * inv_sqrt_s;
  const double met_x = met * std::cos(met_phi), met_y = met * std::sin(met_phi);
  for (const auto& a : entries) {
    if (met > 0) {
      const double sum_et = a.et + met, sum_x = a.p.px + met_x, sum_y = a.p.py + met_y;
      const double mt2 = sum_et * sum_et - sum_x * sum_x - sum_y * sum_y;
      cell(0, a.index) = std::sqrt(std::max(mt2, 0.0)) * inv_sqrt_s;
    }
    cell(a.index, 0) = c * (std::cosh(a.y) - 1.0);
  }
  for (std::size_t u = 0; u < entries.size(); ++u)
    for (std::size_t v = u + 1; v < entries.size(); ++v) {
      const auto &a = entries[u], &b = entries[v];  // a.index < b.index
      cell(a.index, b.index) = std::max((a.p + b.p).m(), 0.0) * inv_sqrt_s;
      cell(b.index, a.index) = c * (std::cosh(0.5 * (a.y - b.y)) - 1.0);
    }
}

std::string rmm_cell_name(std::size_t row, std::size_t column) { return fmt::format("rmm_{}_{}", row, column); }

}  // namespace bsmhunt::physics
