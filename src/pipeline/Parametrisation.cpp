#include "Parametrisation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/pipeline/Options.hpp"

namespace bsmhunt::pipeline {

namespace {

// A sample attribute as a number or as text; nothing when absent.
struct AttributeValue {
  bool is_text = false;
  double number = 0;
  std::string text;
};
std::optional<AttributeValue> attribute_of(const physics::SampleInfo& s, const std::string& name) {
  const auto* v = s.parameter(name);
  if (!v) return std::nullopt;
  AttributeValue a;
  if (const auto* d = std::get_if<double>(v)) a.number = *d;
  else if (const auto* n = std::get_if<int64_t>(v)) a.number = double(*n);
  else a.is_text = true, a.text = std::get<std::string>(*v);
  return a;
}

std::string number_text(double x) { return fmt::format("{:.10g}", x); }

}  // namespace

Parametrisation Parametrisation::from_samples(const std::vector<std::string>& names,
                                              const std::vector<physics::SampleInfo>& samples,
                                              const std::vector<bool>& use, const std::string& file) {
  Parametrisation p;
  std::vector<std::size_t> signals;
  for (std::size_t i = 0; i < samples.size(); ++i)
    if (use[i] && samples[i].role == physics::Role::signal) signals.push_back(i);
  if (signals.empty()) throw InputError(fmt::format("--parametrise: {} has no signal sample to train on", file));
  for (const auto& name : names) {
    if (std::count(names.begin(), names.end(), name) > 1)
      throw InputError(fmt::format("--parametrise: '{}' is named twice", name));
    ModelParameter m;
    m.name = name;
    for (std::size_t k = 0; k < signals.size(); ++k) {
      const auto& s = samples[signals[k]];
      const auto a = attribute_of(s, name);
      if (!a) {
        std::vector<std::string> have;
        for (const auto& q : s.parameters) have.push_back(q.name);
        throw InputError(fmt::format("--parametrise {}: signal sample '{}' of {} has no attribute '{}'{} (it has: {})",
                                     join(names, ","), s.name, file, name, did_you_mean(name, have), join(have, ", ")));
      }
      if (k == 0) m.categorical = a->is_text;
      if (a->is_text != m.categorical)
        throw InputError(fmt::format("--parametrise: attribute '{}' is a number in some signal samples of {} and text "
                                     "in '{}'",
                                     name, file, s.name));
      if (!a->is_text && !std::isfinite(a->number))
        throw InputError(fmt::format("--parametrise: attribute '{}' of signal sample '{}' is {}", name, s.name, a->number));
      if (a->is_text && a->text.find_first_of(",;=") != std::string::npos)
        throw InputError(fmt::format("--parametrise: attribute '{}' of signal sample '{}' is '{}': a category may not "
                                     "contain ',', ';' or '=' (they separate points and values)",
                                     name, s.name, a->text));
      if (a->is_text && std::find(m.categories.begin(), m.categories.end(), a->text) == m.categories.end())
        m.categories.push_back(a->text);
    }
    std::sort(m.categories.begin(), m.categories.end());
    p.parameters_.push_back(m);
  }
  for (const std::size_t i : signals) {
    const auto point = p.point_of(samples[i]);
    if (std::find(p.points_.begin(), p.points_.end(), *point) == p.points_.end()) p.points_.push_back(*point);
  }
  std::sort(p.points_.begin(), p.points_.end(),
            [](const ParameterPoint& a, const ParameterPoint& b) { return a.values < b.values; });
  return p;
}

std::optional<Parametrisation> Parametrisation::load(const Archive& model, const std::string& what) {
  if (!model.string_lists.count("parametrisation/names")) return std::nullopt;
  Parametrisation p;
  for (const auto& name : model.strings_of("parametrisation/names", what)) {
    ModelParameter m;
    m.name = name;
    const std::string key = "parametrisation/categories/" + name;
    if (model.string_lists.count(key)) m.categorical = true, m.categories = model.strings_of(key, what);
    p.parameters_.push_back(m);
  }
  for (const auto& label : model.strings_of("parametrisation/points", what)) {
    const auto points = p.parse_points(label, what + " parametrisation/points");
    p.points_.insert(p.points_.end(), points.begin(), points.end());
  }
  if (p.points_.empty()) throw InputError(fmt::format("{}: parametrisation/points is empty", what));
  return p;
}

void Parametrisation::store(Archive& model) const {
  std::vector<std::string> names, labels;
  for (const auto& m : parameters_) {
    names.push_back(m.name);
    if (m.categorical) model.string_lists["parametrisation/categories/" + m.name] = m.categories;
  }
  for (const auto& point : points_) labels.push_back(label(point));
  model.string_lists["parametrisation/names"] = names;
  model.string_lists["parametrisation/points"] = labels;
  model.strings["parametrisation/description"] =
      "network inputs beside the features: these sample attributes (numbers as one input, text one-hot); signal "
      "events carry their sample's values, background and data events a training point drawn per event; predict "
      "scores every event at each requested point (docs/training.md)";
}

std::size_t Parametrisation::width() const {
  std::size_t w = 0;
  for (const auto& m : parameters_) w += m.categorical ? m.categories.size() : 1;
  return w;
}

std::vector<std::string> Parametrisation::input_names() const {
  std::vector<std::string> out;
  for (const auto& m : parameters_) {
    if (!m.categorical) out.push_back(m.name);
    for (const auto& c : m.categories) out.push_back(m.name + "=" + c);
  }
  return out;
}

void Parametrisation::encode(const ParameterPoint& point, float* out) const {
  std::size_t j = 0;
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    const auto& m = parameters_[k];
    if (!m.categorical) {
      out[j++] = float(point.values[k]);
      continue;
    }
    for (std::size_t c = 0; c < m.categories.size(); ++c) out[j++] = double(c) == point.values[k] ? 1.0f : 0.0f;
  }
}

std::optional<ParameterPoint> Parametrisation::point_of(const physics::SampleInfo& sample) const {
  ParameterPoint point;
  for (const auto& m : parameters_) {
    const auto a = attribute_of(sample, m.name);
    if (!a || a->is_text != m.categorical) return std::nullopt;
    if (!m.categorical) {
      point.values.push_back(a->number);
      continue;
    }
    const auto it = std::find(m.categories.begin(), m.categories.end(), a->text);
    if (it == m.categories.end()) return std::nullopt;
    point.values.push_back(double(it - m.categories.begin()));
  }
  return point;
}

std::size_t Parametrisation::drawn_point(uint64_t seed, int32_t sample, uint64_t event_number) const {
  CounterRng rng(seed ^ 0x7061726d5f70746eull, uint64_t(uint32_t(sample)), event_number);
  return std::min(points_.size() - 1, std::size_t(rng.uniform() * double(points_.size())));
}

void Parametrisation::normalisation(std::vector<double>& offset, std::vector<double>& scale) const {
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    const auto& m = parameters_[k];
    if (m.categorical) {
      offset.insert(offset.end(), m.categories.size(), 0.0);
      scale.insert(scale.end(), m.categories.size(), 1.0);
      continue;
    }
    double mean = 0, var = 0;
    for (const auto& p : points_) mean += p.values[k] / double(points_.size());
    for (const auto& p : points_) var += (p.values[k] - mean) * (p.values[k] - mean) / double(points_.size());
    offset.push_back(mean);
    scale.push_back(var > 0 ? 1.0 / std::sqrt(var) : 1.0);
  }
}

std::string Parametrisation::label(const ParameterPoint& point) const {
  std::vector<std::string> parts;
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    const auto& m = parameters_[k];
    parts.push_back(m.name + "=" +
                    (m.categorical ? m.categories.at(std::size_t(point.values[k])) : number_text(point.values[k])));
  }
  return join(parts, ",");
}

std::vector<ParameterPoint> Parametrisation::parse_points(const std::string& text, const std::string& option) const {
  const std::string t = trim(text);
  if (t == "all") return points_;
  std::vector<ParameterPoint> out;
  // One numeric parameter: "130,250" is a list of its values.
  if (parameters_.size() == 1 && !parameters_[0].categorical && t.find('=') == std::string::npos) {
    for (const double v : parse_numbers(t, option.c_str())) out.push_back(ParameterPoint{{v}});
    if (out.empty()) throw InputError(fmt::format("{} '{}': no point given", option, text));
    return unique_points(out, option, text);
  }
  std::vector<std::string> names;
  for (const auto& m : parameters_) names.push_back(m.name);
  for (const auto& item : split_list(t, ';')) {
    ParameterPoint point;
    point.values.assign(parameters_.size(), std::nan(""));
    for (const auto& pair : split_list(item, ',')) {
      const auto eq = pair.find('=');
      if (eq == std::string::npos)
        throw InputError(fmt::format("{} '{}': expected NAME=VALUE in '{}' (parameters: {})", option, text, pair,
                                     join(names, ", ")));
      const std::string name = trim(pair.substr(0, eq)), value = trim(pair.substr(eq + 1));
      const auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end())
        throw InputError(fmt::format("{} '{}': the model has no parameter '{}'{} (parameters: {})", option, text, name,
                                     did_you_mean(name, names), join(names, ", ")));
      const auto k = std::size_t(it - names.begin());
      const auto& m = parameters_[k];
      if (!std::isnan(point.values[k]))
        throw InputError(fmt::format("{} '{}': point '{}' gives {} twice", option, text, item, name));
      if (m.categorical) {
        const auto c = std::find(m.categories.begin(), m.categories.end(), value);
        if (c == m.categories.end())
          throw InputError(fmt::format("{} '{}': {} '{}' was not trained on (values: {})", option, text, name, value,
                                       join(m.categories, ", ")));
        point.values[k] = double(c - m.categories.begin());
      } else {
        const auto numbers = parse_numbers(value, (option + " '" + text + "': " + name).c_str());
        if (numbers.size() != 1)
          throw InputError(fmt::format("{} '{}': expected one number for {}, got '{}'", option, text, name, value));
        point.values[k] = numbers[0];
      }

    }
    for (std::size_t k = 0; k < names.size(); ++k)
      if (std::isnan(point.values[k]))
        throw InputError(fmt::format("{} '{}': point '{}' gives no value of '{}'", option, text, item, names[k]));
    out.push_back(point);
  }
  if (out.empty()) throw InputError(fmt::format("{} '{}': no point given", option, text));
  return unique_points(out, option, text);
}

std::vector<ParameterPoint> Parametrisation::unique_points(const std::vector<ParameterPoint>& points,
                                                           const std::string& option, const std::string& text) const {
  for (std::size_t i = 0; i < points.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (label(points[i]) == label(points[j]))
        throw InputError(fmt::format("{} '{}': the point {} is given twice", option, text, label(points[i])));
  return points;
}

std::string point_column_name(const std::string& label) { return "score[" + label + "]"; }

std::optional<std::string> point_label_of(const physics::SampleInfo& sample, const std::vector<std::string>& names) {
  std::vector<std::string> parts;
  for (const auto& name : names) {
    const auto a = attribute_of(sample, name);
    if (!a) return std::nullopt;
    parts.push_back(name + "=" + (a->is_text ? a->text : number_text(a->number)));
  }
  return join(parts, ",");
}

std::optional<std::string> point_label_of_column(const std::string& column) {
  if (column.size() < 8 || column.rfind("score[", 0) != 0 || column.back() != ']') return std::nullopt;
  return column.substr(6, column.size() - 7);
}

}  // namespace bsmhunt::pipeline
