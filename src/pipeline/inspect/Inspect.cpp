#include "bsmhunt/pipeline/Inspect.hpp"

#include <fmt/format.h>

#include <iostream>

#include <cmath>
#include <map>

#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/io/EventFile.hpp"

namespace bsmhunt::pipeline {

FileSummary inspect_event_file(const dist::Communicator& comm, const std::filesystem::path& path) {
  io::EventFileReader reader(comm, path);
  FileSummary out;
  out.path = path;
  out.channel = reader.channel();
  out.luminosity_ifb = reader.luminosity_ifb();
  const double lumi_ipb = out.luminosity_ifb * units::invfb;
  constexpr uint64_t kChunk = 1u << 20;
  const auto& samples = reader.samples();
  // Per sample: sum w_mc, sum w_mc^2, negatives, objects checked.
  std::vector<ExactSum> sums(2 * samples.size());
  std::vector<uint64_t> counts(2 * samples.size(), 0);
  physics::EventBlock block;
  for (std::size_t s = 0; s < samples.size(); ++s) {
    const auto& layout = samples[s];
    std::vector<std::string> wanted = {"weight_mc"};
    for (const auto& c : layout.schema.collections) wanted.push_back(c.name);
    const dist::Range mine = dist::partition(layout.info.n_events, comm.size(), comm.rank());
    for (uint64_t begin = mine.begin; begin < mine.end; begin += kChunk) {
      const uint64_t end = std::min(mine.end, begin + kChunk);
      // Reading the collections validates their offsets (monotone, in range).
      reader.read(s, begin, end, block, wanted);
      const auto& wcol = block.column("weight_mc");
      std::visit(
          [&](const auto& w) {
            if constexpr (std::is_floating_point_v<typename std::decay_t<decltype(w)>::value_type>) {
              for (const auto x : w) {
                sums[2 * s].add(double(x));
                sums[2 * s + 1].add(double(x) * double(x));
                counts[2 * s] += x < 0;
              }
            }
          },
          wcol.values);
      for (const auto& c : block.collections()) counts[2 * s + 1] += c.n_objects();
    }
  }
  sums = comm.sum(sums);
  comm.sum_in_place(counts);
  for (std::size_t s = 0; s < samples.size(); ++s) {
    SampleSummary sum;
    sum.info = samples[s].info;
    const double n = double(sum.info.n_events);
    sum.negative_fraction = n > 0 ? double(counts[2 * s]) / n : 0.0;
    const double scale = sum.info.luminosity_scale(lumi_ipb);
    sum.expected_yield = scale * sums[2 * s].value();
    sum.yield_error = std::fabs(scale) * std::sqrt(sums[2 * s + 1].value());
    out.objects_checked += counts[2 * s + 1];
    out.samples.push_back(sum);
  }
  return out;
}

std::string format_summary(const FileSummary& f) {
  std::string t;
  t += fmt::format("{}: channel {}, {:g} fb^-1 at sqrt(s) = 13 TeV, {} samples (offsets of {} objects validated)\n",
                   f.path.string(), f.channel.empty() ? "?" : f.channel, f.luminosity_ifb, f.samples.size(),
                   f.objects_checked);
  t += fmt::format("{:<28} {:<10} {:<26} {:>7} {:>11} {:>12} {:>13} {:>7} {:>14}\n", "sample", "role", "process",
                   "dsid", "events", "sigma [pb]", "sum weights", "neg w", "yield");
  struct Total {
    uint64_t events = 0;
    double yield = 0, var = 0;
    int samples = 0;
  };
  std::map<std::string, Total> totals;
  for (const auto& s : f.samples) {
    const auto& i = s.info;
    const std::string process = i.process.size() > 26 ? i.process.substr(0, 25) + "~" : i.process;
    t += fmt::format("{:<28} {:<10} {:<26} {:>7} {:>11} {:>12.4g} {:>13.6g} {:>6.1f}% {:>14}\n", i.name,
                     physics::to_string(i.role), process, i.dsid, i.n_events, i.cross_section_pb, i.sum_of_weights,
                     100 * s.negative_fraction,
                     i.role == physics::Role::data ? fmt::format("{}", i.n_events)
                                                   : fmt::format("{:.4g} +- {:.2g}", s.expected_yield, s.yield_error));
    auto& tot = totals[std::string(physics::to_string(i.role))];
    tot.events += i.n_events;
    tot.yield += s.expected_yield;
    tot.var += s.yield_error * s.yield_error;
    ++tot.samples;
  }
  t += "totals per role:\n";
  for (const auto& [role, tot] : totals)
    t += fmt::format("  {:<10} {:>4} samples {:>12} events   expected yield {:.6g} +- {:.3g}\n", role, tot.samples,
                     tot.events, tot.yield, std::sqrt(tot.var));
  std::vector<physics::SampleInfo> infos;
  for (const auto& s : f.samples) infos.push_back(s.info);
  if (const double data_lumi = physics::data_luminosity_ifb(infos, f.luminosity_ifb); data_lumi != f.luminosity_ifb)
    t += fmt::format("the data are {:.4g} fb^-1 (the MC is normalised to {:g} fb^-1; generate --data-lumi-ifb)\n",
                     data_lumi, f.luminosity_ifb);
  return t;
}

void add_inspect_options(po::options_description& d) {
  d.add_options()("input", po::value<std::string>()->default_value(""), "event file to inspect (positional)");
}

InspectConfig inspect_config_from(const po::variables_map& vm) {
  return {required(vm, "input", "bsmhunt inspect: give an event file, e.g. 'bsmhunt inspect events.h5'")};
}

int run_inspect(const dist::Communicator& comm, const InspectConfig& c) {
  const FileSummary s = inspect_event_file(comm, c.input);
  if (comm.is_root()) std::cout << format_summary(s) << std::flush;
  return 0;
}

}  // namespace bsmhunt::pipeline
