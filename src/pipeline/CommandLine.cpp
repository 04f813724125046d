#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/pipeline/Command.hpp"

namespace bsmhunt::pipeline {

po::typed_value<double>* double_value(double default_value) {
  return po::value<double>()->default_value(default_value, fmt::format("{}", default_value));
}

po::parsed_options read_ini_file(const std::string& path, const std::string& where, const std::string& cannot_open) {
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
      "log-level", po::value<std::string>()->default_value("info"), "debug, info, warn, error or quiet");
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
  return true;
}

std::vector<std::string> known_sections() {
  std::vector<std::string> s;
  for (const auto& c : commands()) s.push_back(c.name);
  // Sections of stages from later issues, accepted so job files can carry them.
  for (const char* later : {"import", "extract", "train", "predict", "significance", "fit", "bumphunt", "report",
                            "run", "job"})
    if (std::find(s.begin(), s.end(), later) == s.end()) s.emplace_back(later);
  return s;
}

int main_dispatch(int argc, char** argv) {
  const dist::Communicator world = dist::Communicator::world();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (world.is_root()) print_overview();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    if (world.is_root()) fmt::print("bsmhunt {}\n", BSMHUNT_VERSION);
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
  return it->run(vm, world);
}

}  // namespace bsmhunt::pipeline
