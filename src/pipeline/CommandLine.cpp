#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "Build.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/dist/Watchdog.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/Options.hpp"

namespace bsmhunt::pipeline {

po::typed_value<double>* double_value(double default_value) {
  return po::value<double>()->default_value(default_value, fmt::format("{}", default_value));
}

po::typed_value<bool>* switch_value() { return po::value<bool>()->default_value(false)->implicit_value(true); }

std::string required(const po::variables_map& vm, const char* name, const std::string& missing) {
  std::string value = option<std::string>(vm, name);
  if (value.empty()) throw InputError(missing);
  return value;
}

std::vector<std::string> list_option(const po::variables_map& vm, const char* name) {
  return split_list(option<std::string>(vm, name));
}

uint64_t positive_option(const po::variables_map& vm, const char* name) {
  const int64_t v = option<int64_t>(vm, name);
  if (v <= 0) throw InputError(fmt::format("--{} {} must be positive", name, v));
  return uint64_t(v);
}

std::vector<double> parse_numbers(const std::string& text, const char* option_name) {
  std::vector<double> out;
  for (const auto& part : split(text, ',')) {
    const std::string t = trim(part);
    std::size_t used = 0;
    double v = std::numeric_limits<double>::quiet_NaN();
    try {
      v = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (t.empty() || used != t.size() || !std::isfinite(v))
      throw InputError(fmt::format("{} '{}': '{}' is not a number", option_name, text, t));
    out.push_back(v);
  }
  return out;
}

std::vector<double> parse_bin_edges(const std::string& text, const char* option_name) {
  const std::string t = trim(text);
  std::vector<double> edges;
  const auto parts = split(t, ':');
  if (parts.size() == 3 || (parts.size() == 4 && trim(parts[0]) == "log")) {
    const bool log = parts.size() == 4;
    const std::size_t o = log ? 1 : 0;
    const auto v = parse_numbers(parts[o] + "," + parts[o + 1] + "," + parts[o + 2], option_name);
    const double lo = v[0], hi = v[1];
    if (!(v[2] >= 1) || v[2] != std::floor(v[2]) || !(lo < hi) || (log && !(lo > 0)))
      throw InputError(fmt::format("{} '{}': expected [log:]LO:HI:N with LO < HI{} and N >= 1", option_name, text,
                                   log ? ", LO > 0" : ""));
    // A histogram, not an allocation request: 10^6 bins is more than any binned fit
    // uses, and "0:1:1e12" asked for 8 TB (found by fuzzing).
    constexpr double kMostBins = 1e6;
    if (v[2] > kMostBins)
      throw InputError(fmt::format("{} '{}': {} bins; at most {:.0f}", option_name, text, v[2], kMostBins));
    const auto n = std::size_t(v[2]);
    for (std::size_t i = 0; i <= n; ++i)
      edges.push_back(log ? std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * double(i) / double(n))
                          : lo + (hi - lo) * double(i) / double(n));
    edges.front() = lo, edges.back() = hi;  // exp(log(lo)) can miss lo by an ulp
  } else {
    edges = parse_numbers(t, option_name);
  }
  if (edges.size() < 2) throw InputError(fmt::format("{} '{}': at least two edges", option_name, text));
  for (std::size_t i = 1; i < edges.size(); ++i)
    if (!(edges[i - 1] < edges[i]))
      throw InputError(fmt::format("{} '{}': edges must increase ({} after {})", option_name, text, edges[i],
                                   edges[i - 1]));
  return edges;
}

bool drop_nonfinite_option(const po::variables_map& vm) {
  const std::string nonfinite = option<std::string>(vm, "on-nonfinite");
  if (nonfinite != "error" && nonfinite != "drop")
    throw InputError(fmt::format("--on-nonfinite '{}': expected error or drop{}", nonfinite,
                                 did_you_mean(nonfinite, {"error", "drop"})));
  return nonfinite == "drop";
}

po::parsed_options read_ini_file(const std::string& path, const std::string& where, const std::string& cannot_open) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(fmt::format("{}: is a directory, not an INI file", where));
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: {}", where, cannot_open));
  try {
    return po::parse_config_file(in, po::options_description(), /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
}

namespace {

void add_common_options(po::options_description& d) {
  d.add_options()("help,h", "show this help and exit")(
      "config", po::value<std::string>()->default_value(""),
      "INI job file; its [<command>] section supplies options not given on the command line")(
      "log-level", po::value<std::string>()->default_value("info"), "debug, info, warn, error or quiet")(
      "collective-timeout", po::value<double>()->default_value(300, "300"),
      "seconds a rank may wait in one MPI collective for the others, or in one read of a file's variable-length "
      "strings, before the whole job is aborted (exit 124) with a message naming the stage; 0: wait forever");
}

std::vector<std::string> option_names(const po::options_description& d) {
  std::vector<std::string> names;
  for (const auto& o : d.options()) names.push_back(o->long_name());
  return names;
}

po::options_description full_description(const Command& c) {
  po::options_description d(fmt::format("Options of 'bsmhunt {}' (default in parentheses)", c.name), 100, 50);
  add_common_options(d);
  if (c.add_options) c.add_options(d);
  return d;
}

void apply_config_file(const Command& c, const po::options_description& desc, const std::string& path,
                       po::variables_map& vm) {
  po::parsed_options raw = read_ini_file(path, "--config " + path, "cannot open the file");
  const auto sections = known_sections();
  const std::vector<std::string> names = option_names(desc);
  po::parsed_options mine(&desc);
  for (auto& o : raw.options) {
    const auto dot = o.string_key.find('.');
    if (dot == std::string::npos)
      throw InputError(fmt::format("--config {}: key '{}' is outside any [section]; put it under [{}]", path,
                                   o.string_key, c.name));
    const std::string section = o.string_key.substr(0, dot), key = o.string_key.substr(dot + 1);
    // [train:bdt] is a named instance of [train] for `bsmhunt run`; a single command
    // reads only its plain section.
    const std::string base = section.substr(0, section.find(':'));
    if (std::find(sections.begin(), sections.end(), base) == sections.end())
      throw InputError(fmt::format("--config {}: unknown section [{}]{}", path, section,
                                   did_you_mean(section, sections)));
    if (section != c.name) continue;
    if (key == "config" || key == "help" ||
        std::find(names.begin(), names.end(), key) == names.end())
      throw InputError(fmt::format("--config {}: unknown key '{}' in [{}]{}", path, key, section,
                                   did_you_mean(key, names)));
    po::option opt(key, o.value);
    opt.original_tokens = o.original_tokens;
    mine.options.push_back(opt);
  }
  try {
    po::store(mine, vm);  // does not replace values given on the command line
  } catch (const po::error& e) {
    throw InputError(fmt::format("--config {} [{}]: {}", path, c.name, e.what()));
  }
}

void print_overview() {
  fmt::print(
      "bsmhunt: distributed machine-learning searches for new physics in LHC events.\n\n"
      "Usage: [mpirun -n N] bsmhunt <command> [options]      (bsmhunt <command> --help)\n\nCommands:\n");
  for (const auto& c : commands()) fmt::print("  {:<14}{}\n", c.name, c.summary);
  fmt::print("\nOptions may also come from an INI job file: --config jobs/NAME.ini, one [section] per command.\n");
}

}  // namespace

bool parse_command_line(const Command& c, const std::vector<std::string>& args, po::variables_map& vm,
                        bool print_help) {
  const po::options_description desc = full_description(c);
  po::positional_options_description pos;
  if (!c.positional.empty()) pos.add(c.positional.c_str(), -1);
  try {
    po::parsed_options parsed =
        po::command_line_parser(args).options(desc).positional(pos).style(po::command_line_style::unix_style).run();
    po::store(parsed, vm);
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    while (!name.empty() && name.front() == '-') name.erase(name.begin());
    throw InputError(fmt::format("bsmhunt {}: unknown option '--{}'{}; see 'bsmhunt {} --help'", c.name, name,
                                 did_you_mean(name, option_names(desc)), c.name));
  } catch (const po::too_many_positional_options_error&) {
    throw InputError(fmt::format("bsmhunt {}: unexpected extra argument; usage: {}", c.name, c.usage));
  } catch (const po::error& e) {
    throw InputError(fmt::format("bsmhunt {}: {}", c.name, e.what()));
  }
  if (vm.count("help")) {
    if (print_help) std::cout << "Usage: " << c.usage << "\n" << c.summary << "\n\n" << desc << std::flush;
    return false;
  }
  const std::string config = vm["config"].as<std::string>();
  if (!config.empty()) apply_config_file(c, desc, config, vm);
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    throw InputError(fmt::format("bsmhunt {}: {}", c.name, e.what()));
  }
  log::set_level(log::parse_level(vm["log-level"].as<std::string>()));
  const double timeout = vm["collective-timeout"].as<double>();
  if (!(timeout >= 0) || !std::isfinite(timeout))
    throw InputError(fmt::format("bsmhunt {}: --collective-timeout {}: expected seconds >= 0 (0: no limit)", c.name,
                                 timeout));
  dist::watch_collectives(timeout, "bsmhunt " + c.name);
  return true;
}

std::vector<std::string> known_sections() {
  std::vector<std::string> s;
  for (const auto& c : commands()) s.push_back(c.name);
  s.emplace_back("job");  // the job file's own section (bsmhunt run)
  return s;
}

const Command& command_named(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name) return c;
  throw InternalError(fmt::format("no command '{}'", name));
}

int main_dispatch(int argc, char** argv) {
  const dist::Communicator world = dist::Communicator::world();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (world.is_root()) print_overview();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    if (world.is_root()) fmt::print("bsmhunt {}\n", build_id());
    return 0;
  }
  const auto& cmds = commands();
  auto it = std::find_if(cmds.begin(), cmds.end(), [&](const Command& c) { return c.name == args[0]; });
  if (it == cmds.end()) {
    std::vector<std::string> names;
    for (const auto& c : cmds) names.push_back(c.name);
    throw InputError(fmt::format("unknown command '{}'{}; commands: {}", args[0], did_you_mean(args[0], names),
                                 join(names, ", ")));
  }
  po::variables_map vm;
  if (!parse_command_line(*it, {args.begin() + 1, args.end()}, vm, world.is_root())) return 0;
  // Every rank, before any sub-communicator exists (cores and GPUs are shared per node).
  dist::node_placement();
  return it->run(vm, world);
}

}  // namespace bsmhunt::pipeline
