#pragma once
// What every command's options file uses: typed lookups in the parsed options and
// the checks whose messages name the option and what was expected.
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::pipeline {

namespace po = boost::program_options;

// The value of option `name` (every option has a default, so it is always there).
template <typename T>
T option(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

// A double option whose default --help prints as written (0.9, not 0.90000000000000002).
po::typed_value<double>* double_value(double default_value);
// A bool option, false unless given; `--overwrite` alone means true.
po::typed_value<bool>* switch_value();

// The string option `name`; InputError "bsmhunt COMMAND: <missing>" when it is empty.
std::string required(const po::variables_map& vm, const char* name, const std::string& missing);
// Comma-separated list option, items trimmed, empty items dropped.
std::vector<std::string> list_option(const po::variables_map& vm, const char* name);
// An integer option that must be > 0: InputError "--NAME V must be positive".
uint64_t positive_option(const po::variables_map& vm, const char* name);

// One of the named values of an option: InputError listing them otherwise.
template <typename E>
E choose(const std::string& value, const char* option_name, std::initializer_list<std::pair<const char*, E>> values) {
  std::vector<std::string> names;
  for (const auto& [name, e] : values) {
    if (value == name) return e;
    names.emplace_back(name);
  }
  throw InputError(fmt::format("--{} '{}': expected one of {}{}", option_name, value, join(names, ", "),
                               did_you_mean(value, names)));
}

// "1,0.2,0.1": finite numbers; InputError naming `option_name` and the bad item.
std::vector<double> parse_numbers(const std::string& text, const char* option_name);
// Bin edges in GeV: "E0,E1,..." or "LO:HI:N" (N uniform bins) or "log:LO:HI:N"
// (uniform in ln m); strictly increasing, at least two.
std::vector<double> parse_bin_edges(const std::string& text, const char* option_name);

// --on-nonfinite error|drop: true for drop.
bool drop_nonfinite_option(const po::variables_map& vm);

}  // namespace bsmhunt::pipeline
