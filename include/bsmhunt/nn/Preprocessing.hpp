#pragma once
// What the network sees of a feature: x' = (x - offset) * scale, per feature, from
// training statistics: zscore (mean, 1/std), minmax (min, 1/(max - min)), none (0, 1).
// Stored in the model file beside the network, so that whoever scores events
// (predict, the bump hunt, an exported ONNX model) applies the same transform.
#include <cstddef>
#include <string>
#include <vector>

#include "bsmhunt/core/Archive.hpp"

namespace bsmhunt::nn {

struct Preprocessing {
  std::string kind = "zscore";
  std::vector<double> offset, scale;

  static Preprocessing identity(std::size_t features);
  // z-score of the given rows of x (row-major, `features` columns), population std;
  // a constant feature keeps scale 1.
  static Preprocessing zscore_of(const std::vector<float>& x, std::size_t features,
                                 const std::vector<std::size_t>& rows);

  std::size_t features() const { return offset.size(); }
  float apply(std::size_t feature, float x) const { return float((double(x) - offset[feature]) * scale[feature]); }
  // out[r * F + j] = apply(j, x[r * stride + column[j]]) for `rows` rows; column empty: j.
  void apply_rows(const float* x, std::size_t rows, std::size_t stride, const std::vector<std::size_t>& column,
                  float* out) const;

  // preprocessing/{feature_names, normalization, offset, scale, description} of a model archive.
  void store(Archive& a, const std::vector<std::string>& feature_names) const;
  static Preprocessing load(const Archive& a, const std::string& what);
};

}  // namespace bsmhunt::nn
