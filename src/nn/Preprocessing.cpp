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

std::size_t Preprocessing::indicators() const {
  return std::size_t(std::count_if(missing.begin(), missing.end(), [](uint8_t m) { return m != 0; }));
}

void Preprocessing::transform_row(const float* raw, float* out) const {
  const std::size_t F = features();
  for (std::size_t j = 0; j < F; ++j) out[j] = apply(j, raw[j]);
  std::size_t k = F;
  for (std::size_t j = 0; j < missing.size(); ++j)
    if (missing[j]) out[k++] = is_missing(j, raw[j]) ? 1.0f : 0.0f;
}

void Preprocessing::apply_rows(const float* x, std::size_t rows, std::size_t stride,
                               const std::vector<std::size_t>& column, float* out) const {
  const std::size_t F = column.empty() ? features() : column.size(), N = outputs(), M = missing.size();
  for (std::size_t r = 0; r < rows; ++r) {
    const float* in = x + r * stride;
    float* o = out + r * N;
    for (std::size_t j = 0; j < F; ++j) o[j] = apply(j, in[column.empty() ? j : column[j]]);
    std::size_t k = features();
    for (std::size_t j = 0; j < M; ++j)
      if (missing[j]) o[k++] = j < F && is_missing(j, in[column.empty() ? j : column[j]]) ? 1.0f : 0.0f;
  }
}

void Preprocessing::apply_in_place(std::vector<float>& x, std::size_t rows) const {
  const std::size_t F = features(), N = outputs();
  if (x.size() != rows * F)
    throw InternalError(fmt::format("preprocessing: {} values for {} rows of {} inputs", x.size(), rows, F));
  x.resize(rows * N);
  // Rows from the last: row r's output starts at r * N >= r * F, past every input row
  // still to read except its own, which is copied first.
  std::vector<float> raw(F);
  for (std::size_t r = rows; r-- > 0;) {
    std::copy_n(x.data() + r * F, F, raw.data());
    transform_row(raw.data(), x.data() + r * N);
  }
}

void Preprocessing::store(Archive& a, const std::vector<std::string>& names) const {
  a.string_lists["preprocessing/feature_names"] = names;
  a.strings["preprocessing/normalization"] = kind;
  a.strings["preprocessing/description"] = "the network sees (x - offset) * scale for each feature, in this order";
  a.doubles["preprocessing/offset"] = offset;
  a.doubles["preprocessing/scale"] = scale;
  if (!log_scale.empty()) {
    a.doubles["preprocessing/log_scale"] = log_scale;
    a.strings["preprocessing/log_description"] =
        "where log_scale > 0 the feature is first replaced by log(1 + max(x, 0) / log_scale)";
  }
  if (!missing.empty()) {
    a.doubles["preprocessing/missing"] = std::vector<double>(missing.begin(), missing.end());
    a.doubles["preprocessing/missing_value"] = {missing_value};
    a.strings["preprocessing/missing_description"] =
        "a feature with missing = 1 that equals missing_value is missing: the network sees 0 for it, and one more "
        "input per such feature, after all the others in this order, is 1 where it is missing and 0 elsewhere";
  }
}

Preprocessing Preprocessing::load(const Archive& a, const std::string& what) {
  Preprocessing p;
  p.kind = a.string("preprocessing/normalization", what);
  p.offset = a.number_list("preprocessing/offset", what);
  p.scale = a.number_list("preprocessing/scale", what);
  if (p.offset.size() != p.scale.size())
    throw InputError(fmt::format("{}: preprocessing offset and scale differ in length", what));
  if (a.doubles.count("preprocessing/log_scale")) {
    p.log_scale = a.number_list("preprocessing/log_scale", what);
    if (p.log_scale.size() != p.offset.size())
      throw InputError(fmt::format("{}: preprocessing/log_scale has {} values for {} features", what,
                                   p.log_scale.size(), p.offset.size()));
    for (const double s : p.log_scale)
      if (!(s >= 0) || !std::isfinite(s))
        throw InputError(fmt::format("{}: preprocessing/log_scale holds {}: expected finite values >= 0", what, s));
  }
  if (a.doubles.count("preprocessing/missing")) {
    const auto& m = a.number_list("preprocessing/missing", what);
    if (m.size() != p.offset.size())
      throw InputError(fmt::format("{}: preprocessing/missing has {} values for {} features", what, m.size(),
                                   p.offset.size()));
    for (const double v : m) {
      if (v != 0 && v != 1)
        throw InputError(fmt::format("{}: preprocessing/missing holds {}: expected 0 or 1", what, v));
      p.missing.push_back(uint8_t(v));
    }
    p.missing_value = a.number("preprocessing/missing_value", what);
    if (!std::isfinite(p.missing_value))
      throw InputError(fmt::format("{}: preprocessing/missing_value is {}", what, p.missing_value));
  }
  for (std::size_t j = 0; j < p.offset.size(); ++j)
    if (!std::isfinite(p.offset[j]) || !std::isfinite(p.scale[j]))
      throw InputError(fmt::format("{}: preprocessing offset/scale of input {} is not finite", what, j));
  return p;
}

}  // namespace bsmhunt::nn
