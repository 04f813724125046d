#include "bsmhunt/pipeline/Generate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"
#include "bsmhunt/pipeline/WorkItems.hpp"

namespace bsmhunt::pipeline {

using physics::SampleDefinition;

namespace {

// Runs `produce(item, block, tally_of_sample)` for this rank's items, round by
// round, and appends the blocks to the file in order.
template <typename Produce>
void run_rounds(const dist::Communicator& comm, io::EventFileWriter& writer, std::size_t sample_offset,
                const std::vector<WorkItem>& items, physics::EventBlock& block, Progress& progress,
                uint64_t& done_before, Produce&& produce) {
  const std::size_t rounds = work_rounds(items.size(), comm.size());
  uint64_t done = done_before;
  for (std::size_t k = 0; k < rounds; ++k) {
    block.clear();
    std::size_t sample = io::EventFileWriter::kNoSample;
    if (const WorkItem* mine = item_of(items, k, comm.rank(), comm.size())) {
      produce(*mine, block);
      sample = sample_offset + mine->sample;
    }
    writer.append_round(sample, block);
    done += round_events(items, k, comm.size());
    progress.update(done);
  }
  done_before = done;
}

}  // namespace

GenerateResult run_generate(const dist::Communicator& comm, const GenerateConfig& cfg) {
  const auto start = std::chrono::steady_clock::now();
  auto channel = physics::make_channel(cfg.channel);
  if (cfg.options.background_events == 0 && cfg.options.signal_events == 0)
    throw InputError("--events and --signal-events are both 0: nothing to generate");
  if (!(cfg.options.lumi_ifb > 0)) throw InputError(fmt::format("--lumi-ifb {} must be positive", cfg.options.lumi_ifb));
  if (cfg.block_events == 0) throw InputError("--block-events must be positive");
  const bool injecting = cfg.signal_strength != 0 || cfg.inject_events >= 0;
  if (injecting && cfg.inject_signal.empty())
    throw InputError("--signal-strength/--inject-events given but no --inject-signal sample named");
  if (cfg.signal_strength < 0) throw InputError(fmt::format("--signal-strength {} must be >= 0", cfg.signal_strength));
  if (!cfg.inject_signal.empty() && !cfg.pseudo_data)
    throw InputError("--inject-signal needs pseudo-data (--pseudo-data true)");

  std::vector<SampleDefinition> all = channel->samples(cfg.options);
  std::vector<std::string> all_names;
  for (const auto& s : all) all_names.push_back(s.info.name);
  auto find_sample = [&](const std::string& name, const char* option) -> const SampleDefinition& {
    for (const auto& s : all)
      if (s.info.name == name) return s;
    throw InputError(fmt::format("{}: channel '{}' has no sample '{}'{}", option, cfg.channel, name,
                                 did_you_mean(name, all_names)));
  };
  std::vector<SampleDefinition> samples;
  if (cfg.samples.empty()) {
    samples = all;
  } else {
    for (const auto& name : cfg.samples) samples.push_back(find_sample(name, "--samples"));
    // The selected backgrounds share --events in the channel's proportions
    // (largest remainder, so the counts add up exactly).
    double share_total = 0;
    for (const auto& s : samples)
      if (s.info.role == physics::Role::background) share_total += double(s.n_events);
    if (share_total > 0) {
      uint64_t assigned = 0;
      std::vector<std::pair<double, std::size_t>> remainders;
      for (std::size_t i = 0; i < samples.size(); ++i) {
        if (samples[i].info.role != physics::Role::background) continue;
        const double exact = double(cfg.options.background_events) * double(samples[i].n_events) / share_total;
        samples[i].n_events = uint64_t(exact);
        assigned += samples[i].n_events;
        remainders.push_back({exact - std::floor(exact), i});
      }
      std::stable_sort(remainders.begin(), remainders.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
      for (std::size_t k = 0; assigned < cfg.options.background_events && k < remainders.size(); ++k, ++assigned)
        ++samples[remainders[k].second].n_events;
    }
  }
  const SampleDefinition* injected = nullptr;
  if (!cfg.inject_signal.empty()) {
    injected = &find_sample(cfg.inject_signal, "--inject-signal");
    if (injected->info.role != physics::Role::signal)
      throw InputError(fmt::format("--inject-signal {}: sample is a {}, not a signal", cfg.inject_signal,
                                   physics::to_string(injected->info.role)));
  }
  io::check_output_path(comm, cfg.output, cfg.overwrite);

  const physics::EventSchema schema = physics::reco_event_schema(channel->content());
  const double lumi_ipb = cfg.options.lumi_ifb * units::invfb;
  std::vector<physics::Parameter> file_attributes = {
      {"channel", channel->name()},
      {"description", channel->description()},
      {"luminosity_ifb", cfg.options.lumi_ifb},
      {"sqrt_s_GeV", units::sqrt_s / units::GeV},
      {"seed", int64_t(cfg.options.seed)},
      {"preselection", int64_t(cfg.options.preselection ? 1 : 0)},
      {"generator", std::string("bsmhunt generate (parametric fast simulation, not a full detector simulation)")},
      {"bsmhunt_version", std::string(BSMHUNT_VERSION)},
  };
  std::vector<physics::SampleInfo> infos;
  std::vector<uint64_t> sizes;
  uint64_t total_mc = 0;
  for (const auto& s : samples) {
    infos.push_back(s.info);
    infos.back().n_events = s.n_events;
    sizes.push_back(s.n_events);
    total_mc += s.n_events;
  }
  io::WriteOptions wopt{cfg.overwrite};
  io::EventFileWriter writer(comm, cfg.output, wopt, file_attributes, schema, infos);

  log::info("generate: channel {} ({} samples, {} events to store) on {} rank{}, output {}", channel->name(),
            samples.size(), si_count(double(total_mc)), comm.size(), comm.size() > 1 ? "s" : "", cfg.output.string());
  Progress progress("generate", total_mc, "events", comm.is_root());
  physics::EventBlock block(schema);
  block.reserve(cfg.block_events);
  std::vector<physics::GenerationTally> tallies(samples.size());
  uint64_t done = 0;
  run_rounds(comm, writer, 0, plan_work(sizes, cfg.block_events), block, progress, done,
             [&](const WorkItem& w, physics::EventBlock& b) {
               physics::generate_events(*channel, samples[w.sample], cfg.options, w.first, w.count, b,
                                        tallies[w.sample]);
             });

  // Reduce the tallies: exact sums, so sum_of_weights has the same bits for any P.
  std::vector<ExactSum> sumw;
  std::vector<uint64_t> counts;
  for (const auto& t : tallies) {
    sumw.push_back(t.sum_of_weights);
    counts.push_back(t.n_generated);
  }
  sumw = comm.sum(sumw);
  comm.sum_in_place(counts);
  for (std::size_t s = 0; s < infos.size(); ++s) {
    infos[s].sum_of_weights = sumw[s].value();
    infos[s].n_generated = counts[s];
  }
  writer.write_sample_info(infos);
  progress.finish();
  GenerateResult result;
  result.events = total_mc;
  for (auto c : counts) result.generated += c;

  if (cfg.pseudo_data) {
    // Expected yield after preselection per background: sigma k eps L x (stored /
    // generated). MC weights are independent of kinematics here, so the count
    // ratio estimates the preselection efficiency without bias.
    std::vector<const SampleDefinition*> sources;
    std::vector<double> yields;
    for (std::size_t s = 0; s < samples.size(); ++s) {
      if (samples[s].info.role != physics::Role::background) continue;
      const double eff = double(samples[s].n_events) / double(std::max<uint64_t>(counts[s], 1));
      sources.push_back(&samples[s]);
      yields.push_back(infos[s].cross_section_pb * infos[s].k_factor * infos[s].filter_efficiency * lumi_ipb * eff);
    }
    if (sources.empty()) throw InputError("pseudo-data needs background samples (check --samples)");
    double background_yield = 0;
    for (double y : yields) background_yield += y;
    CounterRng count_rng(cfg.options.seed, stable_hash("pseudo-data-count"), 0);
    uint64_t n_data = count_rng.poisson(background_yield);
    uint64_t n_injected = 0;
    physics::GenerationTally signal_tally;
    if (injected) {
      // Efficiency of the injected sample's preselection, from a dedicated run of
      // attempts when it was not generated above.
      double eff = 0;
      auto it = std::find_if(samples.begin(), samples.end(),
                             [&](const SampleDefinition& s) { return s.info.name == injected->info.name; });
      if (it != samples.end()) {
        const std::size_t s = std::size_t(it - samples.begin());
        eff = double(samples[s].n_events) / double(std::max<uint64_t>(counts[s], 1));
      } else {
        physics::EventBlock probe(schema);
        physics::generate_events(*channel, *injected, cfg.options, 0, 2000, probe, signal_tally);
        eff = 2000.0 / double(signal_tally.n_generated);
      }
      const double signal_yield = injected->info.cross_section_pb * injected->info.k_factor *
                                  injected->info.filter_efficiency * lumi_ipb * eff;
      n_injected = cfg.inject_events >= 0 ? uint64_t(cfg.inject_events) : count_rng.poisson(cfg.signal_strength * signal_yield);
      log::info("generate: injecting {} events of {} (expected signal yield {:.1f} x mu {})", n_injected,
                injected->info.name, signal_yield, cfg.signal_strength);
    }
    physics::SampleInfo data;
    data.name = "data";
    data.process = injected ? "pseudo-data (background + injected signal)" : "pseudo-data (background only)";
    data.role = physics::Role::data;
    data.n_events = n_data + n_injected;
    data.parameters = {{"expected_background", background_yield},
                       {"n_injected_signal", int64_t(n_injected)},
                       {"injected_signal", injected ? injected->info.name : std::string("")},
                       {"signal_strength", cfg.signal_strength}};
    std::vector<double> cumulative(yields.size());
    double acc = 0;
    for (std::size_t i = 0; i < yields.size(); ++i) cumulative[i] = (acc += yields[i]) / background_yield;
    // Data events i < n_injected are signal (a fixed, rank-independent choice; the
    // file is unordered physics-wise), the rest are drawn from the background mix.
    physics::GeneratorOptions data_options = cfg.options;
    const uint64_t data_stream = stable_hash("pseudo-data");
    physics::RecoEvent event;
    physics::GenerationTally data_tally;
    writer.add_samples({data});
    Progress data_progress("pseudo-data", data.n_events, "events", comm.is_root());
    uint64_t data_done = 0;
    run_rounds(comm, writer, infos.size(), plan_work({data.n_events}, cfg.block_events), block, data_progress,
               data_done, [&](const WorkItem& item, physics::EventBlock& b) {
                 physics::RecoEventAppender appender(b);
                 for (uint64_t i = item.first; i < item.first + item.count; ++i) {
                   CounterRng rng(cfg.options.seed, data_stream, i);
                   const SampleDefinition* source = injected;
                   if (i >= n_injected) {
                     const double u = rng.uniform();
                     const std::size_t k = std::size_t(
                         std::lower_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
                     source = sources[std::min(k, sources.size() - 1)];
                   }
                   for (uint64_t attempt = 0;; ++attempt) {
                     event.clear();
                     ++data_tally.n_generated;
                     if (channel->generate(*source, data_options, rng, event)) break;
                     if (attempt > 1'000'000) throw Error("pseudo-data: preselection rejects every event");
                   }
                   event.weight_mc = 1.0;  // data: unit weights, whatever the MC weight sign
                   appender.append(event, i);
                 }
               });
    data.n_generated = comm.sum(data_tally.n_generated);
    data.sum_of_weights = double(data.n_events);
    data.cross_section_pb = 0;
    writer.write_sample_info({data});
    data_progress.finish();
    result.events += data.n_events;
    result.generated += data.n_generated;
  }
  writer.commit();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("generate: wrote {} ({} events, {} generated before preselection) in {} ({} events/s per rank)",
            cfg.output.string(), si_count(double(result.events)), si_count(double(result.generated)),
            human_duration(result.seconds), si_count(double(result.events) / result.seconds / comm.size()));
  return result;
}

}  // namespace bsmhunt::pipeline
