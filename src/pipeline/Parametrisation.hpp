#pragma once
// Private to pipeline: classifiers parametrised in the signal models' parameters
// (Baldi, Cranmer, Faucett, Sadowski, Whiteson, EPJC 76 (2016) 235). The named sample
// attributes become network inputs (numbers as one input, text one-hot); signal events
// carry their own model's point, background and data events a point drawn per event
// from the signal points; at prediction every event is scored at each requested point.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bsmhunt/core/Archive.hpp"
#include "bsmhunt/physics/Sample.hpp"

namespace bsmhunt::pipeline {

struct ModelParameter {
  std::string name;                     // a sample attribute, e.g. m_zprime_GeV
  bool categorical = false;             // text values: one input per category
  std::vector<std::string> categories;  // sorted (categorical only)
};

// One point of the parameter space: numbers for numeric parameters, the category
// index (as a number) for categorical ones, in the order of Parametrisation::parameters.
struct ParameterPoint {
  std::vector<double> values;
  friend bool operator==(const ParameterPoint&, const ParameterPoint&) = default;
};

class Parametrisation {
 public:
  // From the signal samples used in training (`use`); every one must carry every named
  // attribute, of one kind (number or text) across them. Throws InputError naming the
  // sample and the attribute otherwise.
  static Parametrisation from_samples(const std::vector<std::string>& names,
                                      const std::vector<physics::SampleInfo>& samples, const std::vector<bool>& use,
                                      const std::string& file);
  // parametrisation/... entries of a model file; nothing when the model is not parametrised.
  static std::optional<Parametrisation> load(const Archive& model, const std::string& what);
  void store(Archive& model) const;

  const std::vector<ModelParameter>& parameters() const { return parameters_; }
  // The distinct points of the training signal samples, in sorted order.
  const std::vector<ParameterPoint>& training_points() const { return points_; }
  // Network inputs the parameters add, and their names ("m_zprime_GeV", "theory=DH").
  std::size_t width() const;
  std::vector<std::string> input_names() const;
  // The raw (unnormalised) inputs of a point: width() values.
  void encode(const ParameterPoint& point, float* out) const;
  // The point of a sample (nothing when it lacks an attribute or has an unknown category).
  std::optional<ParameterPoint> point_of(const physics::SampleInfo& sample) const;
  // The point index of training_points() that a background or data event gets: uniform
  // over the points, keyed by (seed, sample, event), so any rank count gives the same.
  std::size_t drawn_point(uint64_t seed, int32_t sample, uint64_t event_number) const;
  // Mean and 1/std of each input over the training points (uniform); one-hot inputs 0, 1.
  void normalisation(std::vector<double>& offset, std::vector<double>& scale) const;

  // "m_zprime_GeV=130,theory=DH" and back; parse_points reads --at: "all", or points
  // separated by ';' of NAME=VALUE pairs, or (one numeric parameter) values separated by ','.
  std::string label(const ParameterPoint& point) const;
  std::vector<ParameterPoint> parse_points(const std::string& text, const std::string& option) const;

 private:
  std::vector<ModelParameter> parameters_;
  std::vector<ParameterPoint> points_;
  // `points`, refused when two have the same label (their score columns would clash).
  std::vector<ParameterPoint> unique_points(const std::vector<ParameterPoint>& points, const std::string& option,
                                            const std::string& text) const;
};

// The score column of a point: "score[m_zprime_GeV=130]"; and the point label of a
// column name (nothing for other columns).
std::string point_column_name(const std::string& label);
// A sample's point label from its attributes, as Parametrisation::label writes it;
// nothing when it lacks one of the named attributes.
std::optional<std::string> point_label_of(const physics::SampleInfo& sample, const std::vector<std::string>& names);
std::optional<std::string> point_label_of_column(const std::string& column);

}  // namespace bsmhunt::pipeline
