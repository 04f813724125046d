// bsmhunt generate: the channel's Monte Carlo samples, then the pseudo-data, into one
// event file. Work items of each sample are dealt round-robin to ranks and every
// event is keyed by (seed, sample, event number), so the file does not depend on P.
#include "../Build.hpp"
#include "bsmhunt/pipeline/Generate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "../StopSignals.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/dist/WorkItems.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"
#include "bsmhunt/pipeline/Inspect.hpp"

namespace bsmhunt::pipeline {

using physics::SampleDefinition;

namespace {

// The samples to generate, and the one injected into the pseudo-data (or null).
struct SamplePlan {
  std::vector<SampleDefinition> samples;
  std::vector<SampleDefinition> all;
  const SampleDefinition* injected = nullptr;
};

// What the Monte Carlo pass produced: the samples' metadata with their sums of
// weights and attempts.
struct MonteCarlo {
  std::vector<physics::SampleInfo> infos;
  std::vector<uint64_t> attempts;
  std::vector<double> acceptance;  // weighted preselection acceptance (GenerationTally::acceptance)
  uint64_t stored = 0;
};

void validate(const GenerateConfig& cfg) {
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
}

// The selected backgrounds share --events in the channel's proportions (largest
// remainder, so the counts add up exactly).
void share_background_events(std::vector<SampleDefinition>& samples, uint64_t background_events) {
  double share_total = 0;
  for (const auto& s : samples)
    if (s.info.role == physics::Role::background) share_total += double(s.n_events);
  if (!(share_total > 0)) return;
  uint64_t assigned = 0;
  std::vector<std::pair<double, std::size_t>> remainders;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].info.role != physics::Role::background) continue;
    const double exact = double(background_events) * double(samples[i].n_events) / share_total;
    samples[i].n_events = uint64_t(exact);
    assigned += samples[i].n_events;
    remainders.push_back({exact - std::floor(exact), i});
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; assigned < background_events && k < remainders.size(); ++k, ++assigned)
    ++samples[remainders[k].second].n_events;
}

SamplePlan plan_samples(const physics::Channel& channel, const GenerateConfig& cfg) {
  SamplePlan plan;
  plan.all = channel.samples(cfg.options);
  std::vector<std::string> all_names;
  for (const auto& s : plan.all) all_names.push_back(s.info.name);
  auto find_sample = [&](const std::string& name, const char* option_name) -> const SampleDefinition& {
    for (const auto& s : plan.all)
      if (s.info.name == name) return s;
    throw InputError(fmt::format("{}: channel '{}' has no sample '{}'{}", option_name, cfg.channel, name,
                                 did_you_mean(name, all_names)));
  };
  if (cfg.samples.empty()) {
    plan.samples = plan.all;
  } else {
    for (const auto& name : cfg.samples) plan.samples.push_back(find_sample(name, "--samples"));
    share_background_events(plan.samples, cfg.options.background_events);
  }
  if (!cfg.inject_signal.empty()) {
    plan.injected = &find_sample(cfg.inject_signal, "--inject-signal");
    if (plan.injected->info.role != physics::Role::signal)
      throw InputError(fmt::format("--inject-signal {}: sample is a {}, not a signal", cfg.inject_signal,
                                   physics::to_string(plan.injected->info.role)));
  }
  return plan;
}

std::vector<physics::Parameter> file_attributes(const physics::Channel& channel, const GenerateConfig& cfg) {
  return {
      {"channel", channel.name()},
      {"description", channel.description()},
      {"luminosity_ifb", cfg.options.lumi_ifb},
      {"sqrt_s_GeV", units::sqrt_s / units::GeV},
      {"seed", int64_t(cfg.options.seed)},
      {"preselection", int64_t(cfg.options.preselection ? 1 : 0)},
      {"generator", std::string("bsmhunt generate (parametric fast simulation, not a full detector simulation)")},
      {"bsmhunt_version", std::string(BSMHUNT_VERSION)},
      {"bsmhunt_build", build_id()},
  };
}

// Runs `produce(item, block)` for this rank's items, round by round, and appends the
// blocks to the file in order.
template <typename Produce>
void run_rounds(const dist::Communicator& comm, io::EventFileWriter& writer, std::size_t sample_offset,
                const std::vector<dist::WorkItem>& items, physics::EventBlock& block, Progress& progress,
                Produce&& produce) {
  uint64_t done = 0;
  StopSignals signals;
  const std::size_t rounds = dist::work_rounds(items.size(), comm.size());
  for (std::size_t k = 0; k < rounds; ++k) {
    stop_point(comm, "generate", k, rounds);
    block.clear();
    std::size_t sample = io::EventFileWriter::kNoSample;
    if (const dist::WorkItem* mine = dist::item_of(items, k, comm.rank(), comm.size())) {
      produce(*mine, block);
      sample = sample_offset + mine->sample;
    }
    writer.append_round(sample, block);
    done += dist::round_events(items, k, comm.size());
    progress.update(done);
  }
  progress.finish();
}

MonteCarlo generate_monte_carlo(const dist::Communicator& comm, io::EventFileWriter& writer,
                                const physics::Channel& channel, const SamplePlan& plan, const GenerateConfig& cfg,
                                physics::EventBlock& block) {
  MonteCarlo mc;
  std::vector<uint64_t> sizes;
  for (const auto& s : plan.samples) {
    mc.infos.push_back(s.info);
    mc.infos.back().n_events = s.n_events;
    sizes.push_back(s.n_events);
    mc.stored += s.n_events;
  }
  log::info("generate: channel {} ({} samples, {} events to store) on {} rank{}, output {}", channel.name(),
            plan.samples.size(), si_count(double(mc.stored)), comm.size(), comm.size() > 1 ? "s" : "",
            cfg.output.string());
  Progress progress("generate", mc.stored, "events", comm.is_root());
  std::vector<physics::GenerationTally> tallies(plan.samples.size());
  run_rounds(comm, writer, 0, dist::plan_work(sizes, cfg.block_events), block, progress,
             [&](const dist::WorkItem& w, physics::EventBlock& b) {
               physics::generate_events(channel, plan.samples[w.sample], cfg.options, w.first, w.count, b,
                                        tallies[w.sample]);
             });
  // Exact sums, so sum_of_weights has the same bits for any P.
  std::vector<ExactSum> sumw, abs_weights, stored_abs_weights;
  for (const auto& t : tallies) {
    sumw.push_back(t.sum_of_weights);
    abs_weights.push_back(t.abs_weights);
    stored_abs_weights.push_back(t.stored_abs_weights);
    mc.attempts.push_back(t.n_generated);
  }
  sumw = comm.sum(sumw);
  abs_weights = comm.sum(abs_weights);
  stored_abs_weights = comm.sum(stored_abs_weights);
  comm.sum_in_place(mc.attempts);
  for (std::size_t s = 0; s < mc.infos.size(); ++s) {
    mc.infos[s].sum_of_weights = sumw[s].value();
    mc.infos[s].n_generated = mc.attempts[s];
    physics::GenerationTally total;
    total.abs_weights = abs_weights[s], total.stored_abs_weights = stored_abs_weights[s];
    mc.acceptance.push_back(total.acceptance());
  }
  writer.write_sample_info(mc.infos);
  return mc;
}

// sigma k eps L x the preselection acceptance (GenerationTally::acceptance) of a sample.
double expected_yield(const physics::SampleInfo& info, double lumi_ipb, double preselection_efficiency) {
  return info.cross_section_pb * info.k_factor * info.filter_efficiency * lumi_ipb * preselection_efficiency;
}

// The data's luminosity in fb^-1: full, given, or (auto) no more expected events than
// the background MC has stored, so small runs do not pay for 139 fb^-1 of data.
double pseudo_data_luminosity(const GenerateConfig& cfg, double full_yield, uint64_t background_mc) {
  if (cfg.data_lumi_ifb > 0) return cfg.data_lumi_ifb;
  if (cfg.data_lumi_ifb == 0 && full_yield > double(background_mc))
    return cfg.options.lumi_ifb * double(background_mc) / full_yield;
  return cfg.options.lumi_ifb;
}

// The pseudo-data: Poisson(expected background) events drawn from the background mix,
// plus the injected signal events. Returns the events stored and attempted.
std::pair<uint64_t, uint64_t> generate_pseudo_data(const dist::Communicator& comm, io::EventFileWriter& writer,
                                                   const physics::Channel& channel, const SamplePlan& plan,
                                                   const MonteCarlo& mc, const GenerateConfig& cfg,
                                                   physics::EventBlock& block) {
  const double lumi_ipb = cfg.options.lumi_ifb * units::invfb;
  // The data events are drawn with these options: a channel may distort them
  // (data-like mismodelling knobs of --parameter); the Monte Carlo stays as it is.
  physics::GeneratorOptions data_options = cfg.options;
  data_options.drawing_pseudo_data = true;
  // Each background's expected yield as its MC predicts it: the weighted acceptance
  // (Drell-Yan's weights differ by slice, so counting events would be wrong).
  std::vector<const SampleDefinition*> sources;
  std::vector<double> yields;
  for (std::size_t s = 0; s < plan.samples.size(); ++s) {
    if (plan.samples[s].info.role != physics::Role::background) continue;
    const double eff = mc.acceptance[s];
    sources.push_back(&plan.samples[s]);
    const double data_scale = channel.data_yield_scale(plan.samples[s], data_options);
    yields.push_back(expected_yield(mc.infos[s], lumi_ipb, eff) * data_scale);
  }
  if (sources.empty()) throw InputError("pseudo-data needs background samples (check --samples)");
  double full_yield = 0;
  uint64_t background_mc = 0;
  for (double y : yields) full_yield += y;
  for (const auto* s : sources) background_mc += s->n_events;
  const double data_lumi_ifb = pseudo_data_luminosity(cfg, full_yield, background_mc);
  const double data_scale_of_lumi = data_lumi_ifb / cfg.options.lumi_ifb;
  for (double& y : yields) y *= data_scale_of_lumi;
  const double background_yield = full_yield * data_scale_of_lumi;
  if (data_lumi_ifb != cfg.options.lumi_ifb)
    log::info("generate: pseudo-data at {:.4g} fb^-1 ({}; the MC stays at {:.4g} fb^-1): {:.4g} expected background "
              "events instead of {:.4g}", data_lumi_ifb,
              cfg.data_lumi_ifb > 0 ? "--data-lumi-ifb" : "auto: as many as the background MC events, --data-lumi-ifb full for all",
              cfg.options.lumi_ifb, background_yield, full_yield);
  CounterRng count_rng(cfg.options.seed, stable_hash("pseudo-data-count"), 0);
  const uint64_t n_data = count_rng.poisson(background_yield);
  uint64_t n_injected = 0;
  const SampleDefinition* injected = plan.injected;
  if (injected) {
    // Efficiency of the injected sample's preselection, from a dedicated run of
    // attempts when it was not generated above.
    double eff = 0;
    auto it = std::find_if(plan.samples.begin(), plan.samples.end(),
                           [&](const SampleDefinition& s) { return s.info.name == injected->info.name; });
    if (it != plan.samples.end()) {
      const std::size_t s = std::size_t(it - plan.samples.begin());
      eff = mc.acceptance[s];
    } else {
      physics::GenerationTally probe_tally;
      physics::EventBlock probe(block.schema());
      physics::generate_events(channel, *injected, cfg.options, 0, 2000, probe, probe_tally);
      eff = probe_tally.acceptance();
    }
    const double signal_yield = expected_yield(injected->info, lumi_ipb, eff) * data_scale_of_lumi;
    n_injected = cfg.inject_events >= 0 ? uint64_t(cfg.inject_events) : count_rng.poisson(cfg.signal_strength * signal_yield);
    log::info("generate: injecting {} events of {} (expected signal yield {:.1f} x mu {})", n_injected,
              injected->info.name, signal_yield, cfg.signal_strength);
  }
  physics::SampleInfo data;
  data.name = "data";
  data.process = injected ? "pseudo-data (background + injected signal)" : "pseudo-data (background only)";
  data.role = physics::Role::data;
  data.n_events = n_data + n_injected;
  data.parameters = {{"luminosity_ifb", data_lumi_ifb},
                     {"expected_background", background_yield},
                     {"n_injected_signal", int64_t(n_injected)},
                     {"injected_signal", injected ? injected->info.name : std::string("")},
                     {"signal_strength", cfg.signal_strength}};
  // The channel knobs the data were drawn with (e.g. mismodelling distortions).
  for (const auto& [key, value] : cfg.options.parameters) data.parameters.push_back({"parameter_" + key, value});
  std::vector<double> cumulative(yields.size());
  double acc = 0;
  for (std::size_t i = 0; i < yields.size(); ++i) cumulative[i] = (acc += yields[i]) / background_yield;
  // Data events i < n_injected are signal (a fixed, rank-independent choice; the
  // file is unordered physics-wise), the rest are drawn from the background mix.
  const uint64_t data_stream = stable_hash("pseudo-data");
  physics::RecoEvent event;
  physics::GenerationTally data_tally;
  writer.add_samples({data});
  Progress progress("pseudo-data", data.n_events, "events", comm.is_root());
  run_rounds(comm, writer, mc.infos.size(), dist::plan_work({data.n_events}, cfg.block_events), block, progress,
             [&](const dist::WorkItem& item, physics::EventBlock& b) {
               physics::RecoEventAppender appender(b);
               for (uint64_t i = item.first; i < item.first + item.count; ++i) {
                 CounterRng rng(cfg.options.seed, data_stream, i);
                 const SampleDefinition* source = injected;
                 if (i >= n_injected) {
                   const double u = rng.uniform();
                   const std::size_t k =
                       std::size_t(std::lower_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
                   source = sources[std::min(k, sources.size() - 1)];
                 }
                 for (uint64_t attempt = 0;; ++attempt) {
                   event.clear();
                   ++data_tally.n_generated;
                   if (channel.generate(*source, data_options, rng, event)) break;
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
  return {data.n_events, data.n_generated};
}

}  // namespace

int run_generate(const dist::Communicator& comm, const GenerateConfig& cfg) {
  const auto start = std::chrono::steady_clock::now();
  const auto channel = physics::make_channel(cfg.channel);
  validate(cfg);
  const SamplePlan plan = plan_samples(*channel, cfg);
  io::check_output_path(comm, cfg.output, cfg.write.overwrite);

  const physics::EventSchema schema = physics::reco_event_schema(channel->content());
  std::vector<physics::SampleInfo> infos;
  for (const auto& s : plan.samples) {
    infos.push_back(s.info);
    infos.back().n_events = s.n_events;
  }
  io::EventFileWriter writer(comm, cfg.output, cfg.write, file_attributes(*channel, cfg), schema,
                             infos);
  physics::EventBlock block(schema);
  block.reserve(cfg.block_events);
  StopSignals signals;  // until the file is committed
  const MonteCarlo mc = generate_monte_carlo(comm, writer, *channel, plan, cfg, block);
  uint64_t stored = mc.stored, attempted = 0;
  for (const auto a : mc.attempts) attempted += a;
  if (cfg.pseudo_data) {
    const auto [data_stored, data_attempted] = generate_pseudo_data(comm, writer, *channel, plan, mc, cfg, block);
    stored += data_stored, attempted += data_attempted;
  }
  const auto write_start = std::chrono::steady_clock::now();
  stop_point(comm, "generate", 1, 1);
  writer.commit();
  log::info("generate: datasets written in {} (compression {})",
            human_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count()),
            io::to_string(cfg.write.compression));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("generate: wrote {} ({} events, {} generated before preselection) in {} ({} events/s per rank)",
            cfg.output.string(), si_count(double(stored)), si_count(double(attempted)), human_duration(seconds),
            si_count(double(stored) / seconds / comm.size()));
  if (cfg.summary) {
    const FileSummary s = inspect_event_file(comm, cfg.output);
    if (comm.is_root()) std::cout << format_summary(s) << std::flush;
  }
  return 0;
}

}  // namespace bsmhunt::pipeline
