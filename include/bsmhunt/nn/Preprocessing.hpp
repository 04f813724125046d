#pragma once
// What the network sees of a feature: x' = (v - offset) * scale, per feature, from
// training statistics: zscore (mean, 1/std), minmax (min, 1/(max - min)), none (0, 1).
// v is x, or log(1 + max(x, 0) / log_scale) for a heavy-tailed positive feature
// (train --preprocess auto). A feature with missing values (x == missing_value in the
// training rows) sees 0 where x is missing, and the network gets one more input per
// such feature, after all the others: 1 where it is missing, 0 elsewhere.
// Stored in the model file beside the network, so that whoever scores events
// (predict, the bump hunt, an exported ONNX model) applies the same transform.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/core/Archive.hpp"

namespace bsmhunt::nn {

struct Preprocessing {
  std::string kind = "zscore";
  std::vector<double> offset, scale;
  // Per feature, empty when unused: log_scale > 0 takes the log; missing != 0 has an
  // indicator input.
  std::vector<double> log_scale;
  std::vector<uint8_t> missing;
  double missing_value = -999.0;

  static Preprocessing identity(std::size_t features);
  // z-score of the given rows of x (row-major, `features` columns), population std;
  // a constant feature keeps scale 1.
  static Preprocessing zscore_of(const std::vector<float>& x, std::size_t features,
                                 const std::vector<std::size_t>& rows);

  // The model's raw inputs, and what the network takes: them, then the indicators.
  std::size_t features() const { return offset.size(); }
  std::size_t indicators() const;
  std::size_t outputs() const { return features() + indicators(); }
  bool is_missing(std::size_t feature, float x) const {
    return !missing.empty() && missing[feature] && double(x) == missing_value;
  }
  float apply(std::size_t feature, float x) const {
    if (is_missing(feature, x)) return 0.0f;
    double v = x;
    // log(1 + y), not log1p: the exported ONNX graph computes the same numbers.
    if (!log_scale.empty() && log_scale[feature] > 0) v = std::log(1.0 + std::max(v, 0.0) / log_scale[feature]);
    return float((v - offset[feature]) * scale[feature]);
  }
  // One event: raw holds features() values; out gets outputs() values.
  void transform_row(const float* raw, float* out) const;
  // Rows of outputs() values: out[r * outputs() + j] = apply(j, x[r * stride + column[j]])
  // for the first column.size() inputs (column empty: every input, at j), then the
  // indicators. Inputs beyond column.size() (parameter inputs) are left to the caller.
  void apply_rows(const float* x, std::size_t rows, std::size_t stride, const std::vector<std::size_t>& column,
                  float* out) const;
  // Widens rows of features() raw values, in place, to rows of outputs() transformed
  // ones (x must have capacity for them to avoid a copy).
  void apply_in_place(std::vector<float>& x, std::size_t rows) const;

  // preprocessing/{feature_names, normalization, offset, scale, description} of a model archive.
  void store(Archive& a, const std::vector<std::string>& feature_names) const;
  static Preprocessing load(const Archive& a, const std::string& what);
};

}  // namespace bsmhunt::nn
