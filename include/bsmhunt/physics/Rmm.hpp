#pragma once
// Rapidity-mass matrix (RMM) of an event: S. V. Chekanov, Nucl. Instrum. Meth. A 931
// (2019) 92, arXiv:1805.11650, in the form of his public code (Map2RMM, ADFilter):
// a square matrix of size 1 + T*N for T object types with N slots each, index 0 the
// missing transverse momentum, object k of type t at 1 + t*N + k (pT-ordered within
// a type). Cells (docs/rmm.md):
//   (0,0)            MET / sqrt(s)
//   (0,j)            mT(object j, MET) / sqrt(s), mT^2 = (ET_j + MET)^2 - |pT_j + MET|^2
//   (j,0)            hL = C (cosh y_j - 1)                       (y: rapidity)
//   (j,j)            ET / sqrt(s) for the first object of a type,
//                    (ET_{j-1} - ET_j) / (ET_{j-1} + ET_j) for the later ones
//   (i,j), i < j     m(i,j) / sqrt(s)
//   (i,j), i > j     h = C (cosh((y_i - y_j) / 2) - 1)
// with C = 0.15 and ET = E pT / |p|. Empty slots (and, for MET = 0, the first row)
// are zero.
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/physics/FourVector.hpp"

namespace bsmhunt::physics {

struct RmmLayout {
  std::size_t types = 3;      // T: object types (blocks after the MET row)
  std::size_t slots = 5;      // N: objects kept per type
  double angle_scale = 0.15;  // C of the h and hL cells (Chekanov's angNorm)
  double sqrt_s = units::sqrt_s;
  std::size_t size() const { return 1 + types * slots; }
  std::size_t index(std::size_t type, std::size_t slot) const { return 1 + type * slots + slot; }
};

// Fills `out` (size() x size(), row-major) for one event. objects[t] holds the
// objects of type t in decreasing pT; those beyond `slots` are ignored.
void rapidity_mass_matrix(const RmmLayout& layout, double met, double met_phi,
                          std::span<const std::vector<FourVector>> objects, std::span<double> out);

// Name of cell (row, column) as a feature: "rmm_<row>_<column>".
std::string rmm_cell_name(std::size_t row, std::size_t column);

}  // namespace bsmhunt::physics
