#include "bsmhunt/nn/Preprocessing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::nn {

Preprocessing Preprocessing::identity(std::size_t features) {
  Preprocessing p;
  p.kind = "none";
  p.offset.assign(features, 0.0), p.scale.assign(features, 1.0);
  return p;
}

Preprocessing Preprocessing::zscore_of(const std::vector<float>& x, std::size_t F, const std::vector<std::size_t>& rows) {
  Preprocessing p;
  p.kind = "zscore";
  p.offset.assign(F, 0.0), p.scale.assign(F, 0.0);
  const double n = double(std::max<std::size_t>(1, rows.size()));
  for (const auto r : rows)
    for (std::size_t j = 0; j < F; ++j) p.offset[j] += x[r * F + j];
  for (auto& m : p.offset) m /= n;
  for (const auto r : rows)
    for (std::size_t j = 0; j < F; ++j) p.scale[j] += std::pow(x[r * F + j] - p.offset[j], 2);
  for (auto& s : p.scale) s = std::sqrt(s / n);
  for (auto& s : p.scale) s = s > 0 ? 1.0 / s : 1.0;
  return p;
}

void Preprocessing::apply_rows(const float* x, std::size_t rows, std::size_t stride,
                               const std::vector<std::size_t>& column, float* out) const {
  const std::size_t F = features();
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < F; ++j) out[r * F + j] = apply(j, x[r * stride + (column.empty() ? j : column[j])]);
}

void Preprocessing::store(Archive& a, const std::vector<std::string>& names) const {
  a.string_lists["preprocessing/feature_names"] = names;
  a.strings["preprocessing/normalization"] = kind;
  a.strings["preprocessing/description"] = "the network sees (x - offset) * scale for each feature, in this order";
  a.doubles["preprocessing/offset"] = offset;
  a.doubles["preprocessing/scale"] = scale;
}

Preprocessing Preprocessing::load(const Archive& a, const std::string& what) {
  Preprocessing p;
  p.kind = a.string("preprocessing/normalization", what);
  p.offset = a.number_list("preprocessing/offset", what);
  p.scale = a.number_list("preprocessing/scale", what);
  if (p.offset.size() != p.scale.size())
    throw InputError(fmt::format("{}: preprocessing offset and scale differ in length", what));
  return p;
}

}  // namespace bsmhunt::nn
