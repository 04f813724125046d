// Analysis E on the CPU (issue 13, "Benchmarks"): eta-phi image building and CNN
// training throughput, one process, one BLAS thread unless told otherwise.
//
//   cnn_bench --images [--events N] [--seed S]
//       Generates N monojet events of znunu_pt1000 in memory, then for each
//       compression builds every event's 60 x 60 x 10 network input (fill from the
//       particle and jet collections + scale + compress + crop), timed per
//       compression: events/s per core. Also the fill alone and the particle bytes
//       per event (what ParticleStore holds per event instead of a 144 kB image).
//   cnn_bench --train [--cnn strides|max-pool] [--batch B] [--steps K] [--threads T]
//       Trains the study's CNN (nn::Trainer, Adam lr 1e-4, BCE from logits, conv L2
//       0.01) on B x K random 60 x 60 x 10 images resident in memory, as
//       tools/bench/cnn_torch.py does: one warm-up epoch of K steps, one timed
//       epoch. Prints images/s, the convolution GFLOP/s achieved and the peak RSS.
//
// The last line of every mode is "RESULT key=value ..." for tools/bench/bench.

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Collective.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Trainer.hpp"
#include "bsmhunt/physics/EtaPhiImage.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"

namespace nn = bsmhunt::nn;
namespace physics = bsmhunt::physics;
using Clock = std::chrono::steady_clock;
using G = physics::ImageGrid;

namespace {

struct Options {
  bool images = false, train = false;
  uint64_t events = 20000, batch = 128, steps = 8, seed = 1;
  int threads = 1;
  std::string cnn = "strides";
};

[[noreturn]] void usage(const std::string& why) {
  fmt::print(stderr,
             "cnn_bench: {}\nusage: cnn_bench --images [--events N] [--seed S]\n"
             "       cnn_bench --train [--cnn strides|max-pool] [--batch B] [--steps K] [--threads T] [--seed S]\n",
             why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto text = [&]() -> std::string {
      if (i + 1 >= argc) usage(fmt::format("{} needs a value", a));
      return argv[++i];
    };
    auto value = [&]() -> uint64_t {
      const std::string v = text();
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || !end || *end) usage(fmt::format("{} {}: not a non-negative integer", a, v));
      return n;
    };
    if (a == "--images") o.images = true;
    else if (a == "--train") o.train = true;
    else if (a == "--events") o.events = value();
    else if (a == "--batch") o.batch = value();
    else if (a == "--steps") o.steps = value();
    else if (a == "--threads") o.threads = int(value());
    else if (a == "--seed") o.seed = value();
    else if (a == "--cnn") o.cnn = text();
    else if (a == "--help" || a == "-h") usage("help");
    else usage(fmt::format("unknown option {}", a));
  }
  if (o.images == o.train) usage("give exactly one of --images and --train");
  if (o.events == 0 || o.batch == 0 || o.steps == 0 || o.threads <= 0) usage("zero is not allowed here");
  return o;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int bench_images(const Options& o) {
  auto channel = physics::make_channel("monojet");
  physics::GeneratorOptions gen;
  gen.seed = o.seed;
  const auto samples = channel->samples(gen);
  const auto sample = std::find_if(samples.begin(), samples.end(),
                                   [](const physics::SampleDefinition& s) { return s.info.name == "znunu_pt1000"; });
  if (sample == samples.end()) throw std::runtime_error("monojet has no sample znunu_pt1000");
  physics::EventBlock block(physics::reco_event_schema(channel->content()));
  physics::GenerationTally tally;
  const auto g0 = Clock::now();
  physics::generate_events(*channel, *sample, gen, 0, o.events, block, tally);
  const double generate_s = seconds_since(g0);
  const auto& particles = block.collection("particles");
  const double particles_per_event = double(particles.offsets[block.size()]) / double(block.size());
  // What ParticleStore keeps per particle (pt, eta, phi, charge, pdg_id, em) and per jet
  // (pt, eta, phi, width): 4+4+4+1+4+1 and 16 bytes.
  const auto& jets = block.collection("jets");
  const double store_bytes = (18.0 * double(particles.offsets[block.size()]) + 16.0 * double(jets.offsets[block.size()])) /
                             double(block.size());

  physics::EtaPhiImage image;
  std::vector<float> out(G::out_size);
  const std::array<double, 8> scales{16.9, 1, 1.03, 247, 213, 0.93, 784, 0.037};  // a training set's (docs/monojet.md)
  double checksum = 0, cells = 0;
  // The fill alone: the raw cells from the collections.
  auto t0 = Clock::now();
  for (std::size_t e = 0; e < block.size(); ++e) {
    image.fill(block, e);
    cells += double(image.nonempty_cells());
  }
  const double fill_rate = double(block.size()) / seconds_since(t0);
  fmt::print("cnn_bench --images: {} znunu_pt1000 events generated in {:.2f} s; {:.1f} particles, {:.1f} non-empty "
             "cells per event; ParticleStore {:.0f} bytes/event vs {} bytes per 60x60x10 float image\n",
             block.size(), generate_s, particles_per_event, cells / double(block.size()), store_bytes, G::out_size * 4);
  fmt::print("  fill only: {:.4g} events/s\n", fill_rate);
  std::string result = fmt::format("RESULT mode=images events={} fill_per_s={:.1f}", block.size(), fill_rate);
  for (const auto& name : physics::compression_names()) {
    const auto c = physics::parse_compression(name);
    t0 = Clock::now();
    for (std::size_t e = 0; e < block.size(); ++e) {
      image.fill(block, e);
      image.compress(c, scales, physics::image_random_key(o.seed, 0, e), out.data());
      checksum += out[e % out.size()];
    }
    const double rate = double(block.size()) / seconds_since(t0);
    fmt::print("  {:<13} fill + compress: {:.4g} events/s ({:.1f} MB/s of network input)\n", name, rate,
               rate * double(G::out_size) * 4.0 / 1e6);
    std::string key = name;
    std::replace(key.begin(), key.end(), '-', '_');
    result += fmt::format(" {}_per_s={:.1f}", key, rate);
  }
  fmt::print("{} store_bytes_per_event={:.0f} particles_per_event={:.1f} checksum={:.3g}\n", result, store_bytes,
             particles_per_event, checksum);
  return 0;
}

// Multiply-adds of the convolutions and dense layers per image, forward; training
// is ~3x (forward, input gradient, kernel gradient; the first layer's input
// gradient is not needed, which this count ignores).
double forward_flops(const nn::Network& net) {
  double f = 0;
  for (const auto& l : net.layers()) {
    const auto params = l->parameters();
    if (params.empty() || params[0].shape.size() != 2) continue;
    const double weights = double(params[0].shape[0]) * double(params[0].shape[1]);
    // conv2d: kernel [out_channels, k k in]; every output pixel is one product with it.
    const double pixels = l->kind() == "conv2d" ? double(l->output_width()) / double(params[0].shape[0]) : 1.0;
    f += 2.0 * weights * pixels;
  }
  return f;
}

int bench_train(const Options& o) {
  nn::set_cpu_threads(o.threads);
  auto be = nn::make_backend(nn::DeviceKind::cpu);
  nn::NetworkSpec spec;
  spec.model = "cnn";
  spec.cnn = o.cnn;
  spec.image_height = G::out_rows, spec.image_width = G::out_cols, spec.image_channels = G::out_channels;
  spec.inputs = G::out_size;
  spec.hidden = {128};
  spec.dropout = 0.1f;
  spec.outputs = 1;
  nn::Network net(*be, spec);
  net.initialize(o.seed);
  const double rss_start = peak_rss_mb();

  const uint64_t rows = o.batch * o.steps;
  nn::Shard data;
  data.features = G::out_size;
  data.x.resize(rows * G::out_size);
  data.target.resize(rows);
  data.weight.assign(rows, 1.0f);
  for (uint64_t r = 0; r < rows; ++r) {
    bsmhunt::CounterRng rng(o.seed, bsmhunt::stable_hash("cnn_bench"), r);
    for (std::size_t k = 0; k < G::out_size; ++k) data.x[r * G::out_size + k] = float(rng.uniform());
    data.target[r] = rng.uniform() < 0.5 ? 1.0f : 0.0f;
  }
  data.global_rows = rows;
  nn::Shard validation;
  validation.features = G::out_size;
  const double rss_data = peak_rss_mb();

  nn::TrainerConfig cfg;
  cfg.loss.kind = nn::LossKind::bce_logits;
  cfg.learning_rate = 1e-4;
  cfg.conv_l2 = 0.01;
  cfg.epochs = 2;  // warm-up + timed
  cfg.batch_size = o.batch;
  cfg.patience = 0;
  cfg.restore_best = false;
  cfg.seed = o.seed;
  nn::LocalCollective local;
  nn::Trainer trainer(*be, net, local, cfg, data, validation);
  std::vector<Clock::time_point> ends;
  std::vector<double> losses;
  nn::TrainerHooks hooks;
  hooks.epoch_end = [&](const nn::EpochRecord& r, bool) {
    ends.push_back(Clock::now());
    losses.push_back(r.train_loss);
  };
  const auto t0 = Clock::now();
  trainer.run(hooks);
  if (ends.size() != 2) throw std::runtime_error(fmt::format("expected 2 epochs, saw {}", ends.size()));
  const double timed = std::chrono::duration<double>(ends[1] - ends[0]).count();
  const double rate = double(rows) / timed;
  const double flops = forward_flops(net);
  fmt::print("cnn_bench --train: {} CNN, {} parameters, batch {}, {} steps/epoch, {} BLAS thread(s); warm-up epoch "
             "{:.1f} s, timed epoch {:.1f} s; loss {:.3f} -> {:.3f}\n",
             o.cnn, net.parameter_count(), o.batch, trainer.steps_per_epoch(), o.threads,
             std::chrono::duration<double>(ends[0] - t0).count(), timed, losses.front(), losses.back());
  fmt::print("  {:.3g} images/s; forward {:.2f} GFLOP/image -> {:.1f} GFLOP/s at 3x forward; peak RSS {:.0f} MB "
             "(network {:.0f}, + {:.0f} MB of resident images)\n",
             rate, flops / 1e9, rate * 3 * flops / 1e9, peak_rss_mb(), rss_start, rss_data - rss_start);
  fmt::print("RESULT mode=train cnn={} threads={} batch={} steps={} images_per_s={:.3f} gflops={:.2f} "
             "peak_rss_mb={:.0f}\n",
             o.cnn, o.threads, o.batch, o.steps, rate, rate * 3 * flops / 1e9, peak_rss_mb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    return o.images ? bench_images(o) : bench_train(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cnn_bench: {}\n", e.what());
    return 1;
  }
}
