#pragma once
// Cuts on features written as text in job files and on the command line:
//   "met_significance > 10 && mt_llmet > 160 && n_bjets == 0"
// and named channels: "ee: channel_flag == 0; mumu: channel_flag == 1".
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace bsmhunt::physics {

struct Condition {
  enum class Op { greater, greater_equal, less, less_equal, equal, not_equal };
  std::size_t column = 0;  // index into the feature names
  std::string name;
  Op op = Op::greater;
  double value = 0;
  bool passes(double x) const;
  std::string text() const;  // "mt2 > 110"
};

// Conditions joined by "&&" (all must pass); "" is the empty selection (everything
// passes). InputError naming `option`, the condition and what was expected; an unknown
// feature name lists the closest one.
struct Selection {
  std::vector<Condition> conditions;
  bool passes(const float* row) const {  // row: the feature values of one event
    for (const auto& c : conditions)
      if (!c.passes(double(row[c.column]))) return false;
    return true;
  }
  std::string text() const;
};
Selection parse_selection(std::string_view text, const std::vector<std::string>& feature_names,
                          std::string_view option);

struct Channel {
  std::string name;
  Selection selection;
};
// "NAME: SELECTION; NAME: SELECTION"; "" gives one channel "all" selecting everything.
std::vector<Channel> parse_channels(std::string_view text, const std::vector<std::string>& feature_names,
                                    std::string_view option);

}  // namespace bsmhunt::physics
