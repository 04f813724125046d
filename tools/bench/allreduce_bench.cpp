// Gradient all-reduce of the CPU path (issue 4, "Benchmarks"): times
// dist::Communicator::start_sum_in_place + wait_all (MPI_Iallreduce + MPI_Waitall,
// what pipeline's MpiCollective does per gradient bucket) on float buffers of
// 1 KB .. 64 MB, then projects step time and data-parallel scaling efficiency of a
// ring all-reduce on 8 and 64 GPUs with an alpha-beta model whose every assumption
// is printed.
//
//   mpirun -n N allreduce_bench [--max-bytes B] [--seconds S]
//
// The last lines are "RESULT ..." for tools/bench/bench.

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/nn/Backend.hpp"
#include "bsmhunt/nn/Network.hpp"
#include "bsmhunt/nn/Trainer.hpp"

namespace dist = bsmhunt::dist;
namespace nn = bsmhunt::nn;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string bytes_label(double b) {
  if (b >= 1048576.0) return fmt::format("{:.3g} MB", b / 1048576.0);
  if (b >= 1024.0) return fmt::format("{:.3g} KB", b / 1024.0);
  return fmt::format("{:g} B", b);
}

std::string time_label(double s) {
  if (s >= 1e-3) return fmt::format("{:.2f} ms", s * 1e3);
  return fmt::format("{:.1f} us", s * 1e6);
}

struct Measurement {
  std::size_t bytes = 0;
  int repeats = 0;
  double median_s = 0, min_s = 0;
};

// One timed all-reduce of n floats per repeat, every rank starting together; the
// time of a repeat is the slowest rank's.
Measurement measure(const dist::Communicator& comm, std::vector<float>& buffer, std::size_t n, double seconds) {
  Measurement m;
  m.bytes = n * sizeof(float);
  std::vector<double> times;
  std::vector<MPI_Request> requests;
  const auto start = Clock::now();
  for (int r = -2;; ++r) {  // two untimed warm-up calls
    comm.barrier();
    const auto t0 = Clock::now();
    requests.push_back(comm.start_sum_in_place(buffer.data(), n));
    dist::Communicator::wait_all(requests);
    const double local = std::chrono::duration<double>(Clock::now() - t0).count();
    const double slowest = comm.max(local);
    if (r >= 0) times.push_back(slowest);
    // Every rank takes the same decision: rank 0's clock decides.
    std::vector<uint64_t> more{
        uint64_t(r < 4 || (r < 1000 && std::chrono::duration<double>(Clock::now() - start).count() < seconds))};
    comm.broadcast(more);
    if (!more[0]) break;
  }
  m.repeats = int(times.size());
  m.median_s = median(times);
  m.min_s = *std::min_element(times.begin(), times.end());
  return m;
}

// Ring all-reduce of `bytes` over p ranks: 2 (p - 1) messages of latency alpha and
// 2 (p - 1) / p of the buffer through each rank's link at bus bandwidth `bw`.
double ring_seconds(double bytes, int p, double alpha, double bw) {
  if (p <= 1) return 0.0;
  return 2.0 * (p - 1) * alpha + 2.0 * (p - 1) / p * bytes / bw;
}

struct Interconnect {
  const char* name;
  int gpus;
  double bus_bw;  // bytes/s
};

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  try {
    auto comm = dist::Communicator::world();
    std::size_t max_bytes = std::size_t(64) << 20;
    double seconds = 1.0;
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      if (a == "--max-bytes" && i + 1 < argc) max_bytes = std::size_t(std::strtoull(argv[++i], nullptr, 10));
      else if (a == "--seconds" && i + 1 < argc) seconds = std::strtod(argv[++i], nullptr);
      else {
        if (comm.is_root()) fmt::print(stderr, "usage: mpirun -n N allreduce_bench [--max-bytes B] [--seconds S]\n");
        return 2;
      }
    }
    const int p = comm.size();

    // The models of the projection: the MLP's gradient buffer is counted from the
    // network itself; the CNN is a stated size.
    auto be = nn::make_backend(nn::DeviceKind::cpu);
    nn::NetworkSpec spec;
    spec.inputs = 25;
    spec.hidden = {64, 64};
    spec.outputs = 1;
    nn::Network mlp(*be, spec);
    const std::size_t mlp_params = mlp.parameter_count();
    double mlp_flops_per_row = 0;
    for (std::size_t i = 0; i < mlp.layers().size(); ++i) {
      const auto& l = *mlp.layers()[i];
      if (l.kind() != "dense") continue;
      const double mac = double(l.input_width()) * double(l.output_width());
      mlp_flops_per_row += 2 * mac + 2 * mac + (i > 0 ? 2 * mac : 0);
    }
    const std::size_t cnn_params = 1'000'000;
    const std::size_t default_bucket_floats = nn::TrainerConfig{}.bucket_floats;

    // ---- measurement
    std::vector<std::size_t> sizes;
    for (std::size_t b = 1024; b <= max_bytes; b *= 2) sizes.push_back(b / sizeof(float));
    sizes.push_back(mlp_params);  // the MLP's whole gradient: one bucket
    std::sort(sizes.begin(), sizes.end());
    std::vector<float> buffer(std::max(sizes.back(), cnn_params), 0.0f);
    for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = float(i % 7) * 1e-3f;  // touch every page
    std::vector<Measurement> results;
    for (std::size_t n : sizes) results.push_back(measure(comm, buffer, n, seconds));

    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const double rss = comm.max(double(u.ru_maxrss) / 1024.0);
    if (!comm.is_root()) return 0;

    fmt::print("## all-reduce: dist::Communicator::start_sum_in_place + wait_all (MPI_Iallreduce, float sum, in "
               "place), {} ranks on this machine\n\n",
               p);
    fmt::print("Median (and best) of repeated calls, each timed by its slowest rank after a barrier; algbw = "
               "bytes / t, busbw = algbw x 2 (p - 1) / p (the nccl-tests convention). Peak RSS/rank {:.0f} MB.\n\n",
               rss);
    fmt::print("| buffer | floats | repeats | median | best | algbw [GB/s] | busbw [GB/s] |\n|---|---|---|---|---|---|---|\n");
    for (const auto& m : results) {
      const double alg = double(m.bytes) / m.median_s / 1e9;
      const bool mlp_row = m.bytes == mlp_params * sizeof(float);
      const bool bucket_row = m.bytes == default_bucket_floats * sizeof(float);
      fmt::print("| {}{} | {} | {} | {} | {} | {:.2f} | {:.2f} |\n", bytes_label(double(m.bytes)),
                 mlp_row ? " (the MLP's gradients)" : bucket_row ? " (one default bucket)" : "", m.bytes / sizeof(float), m.repeats,
                 time_label(m.median_s), time_label(m.min_s), alg, alg * 2.0 * (p - 1) / std::max(p, 1));
    }
    // This machine's own alpha/beta: latency from the smallest buffer, bus bandwidth
    // at its best and for the largest buffer.
    const double alpha_here = p > 1 ? results.front().median_s / (2.0 * (p - 1)) : 0.0;
    auto busbw = [&](const Measurement& m) { return 2.0 * (p - 1) / std::max(p, 1) * double(m.bytes) / m.median_s; };
    const Measurement& best_bw =
        *std::max_element(results.begin(), results.end(),
                          [&](const Measurement& a, const Measurement& b) { return busbw(a) < busbw(b); });
    const double bw_here = p > 1 ? busbw(results.back()) : 0.0;
    if (p > 1)
      fmt::print("\nThis machine as a ring ({} ranks): alpha ~ {:.1f} us per message (the {} buffer's time / 2 (p - "
                 "1)); bus bandwidth at best {:.2f} GB/s ({} buffer), {:.2f} GB/s for the {} buffer.\n",
                 p, alpha_here * 1e6, bytes_label(double(results.front().bytes)), busbw(best_bw) / 1e9,
                 bytes_label(double(best_bw.bytes)), bw_here / 1e9, bytes_label(double(results.back().bytes)));

    // ---- projection
    const double alphas[2] = {10e-6, 35e-6};
    const Interconnect nets[2] = {
        {"8 x H100 in one node (NVLink 4 / NVSwitch)", 8, 370e9},
        {"64 x H100 = 8 nodes x 8 (NVLink inside, InfiniBand between)", 64, 320e9},
    };
    const double gpu_rows_per_s = 90e6 / 0.1;  // issue 4's GPU goal: 90 M events per epoch in 0.1 s on one H100
    fmt::print("\n## Projection: ring all-reduce, alpha-beta model (an estimate, not a measurement)\n\n");
    fmt::print("Assumptions:\n");
    fmt::print("- time of one all-reduce of S bytes over p GPUs: T = 2 (p - 1) alpha + 2 (p - 1) / p x S / B_bus "
               "(flat ring, one bucket);\n");
    fmt::print("- alpha = 10 us and 35 us per message (issue 4's range for NCCL), for every hop, inside a node "
               "and between nodes;\n");
    fmt::print("- 8 GPUs: B_bus = 370 GB/s (issue 4: ring bus bandwidth of 8 x H100 over NVLink);\n");
    fmt::print("- 64 GPUs: B_bus = 320 GB/s. Source: an H100 node with 8 x 400 Gb/s InfiniBand NDR (one "
               "ConnectX-7 per GPU, as in a DGX H100) = 50 GB/s per GPU raw, 46-48 GB/s reached by NCCL per NDR "
               "NIC (NVIDIA's answer in nccl-tests issue 290); NCCL runs one ring channel per NIC, so the "
               "inter-node hops allow at most 8 x 50 = 400 GB/s of bus bandwidth; taken at 80% (320 GB/s); the "
               "NVLink hops inside a node are faster;\n");
    fmt::print("- engine buckets: whole layers from the output down of >= bucket_floats = {} floats "
               "(TrainerConfig default): both models below fit in ONE bucket, which starts after the first "
               "layer's backward, so nothing overlaps: non-overlapped communication = T;\n",
               default_bucket_floats);
    fmt::print("- scaling efficiency = compute / (compute + non-overlapped communication), per step, with the "
               "per-GPU batch fixed (weak scaling);\n");
    fmt::print("- (a) MLP 25 -> 64 -> 64 -> 1: {} parameters (counted from nn::Network) = {} of fp32 gradients; "
               "{:.0f} GEMM flop per row (forward + backward); per-GPU compute = rows / {:.2g} rows/s, the GPU "
               "goal of issue 4 (90 M events per epoch in <= 0.1 s on one H100, i.e. {:.0f} TFLOP/s) - an "
               "assumption, not measured here (no GPU lent); kernel-launch overhead (~20 launches per step, a few "
               "us each, unless CUDA graphs) is NOT included and would lower compute efficiency but raise the "
               "scaling efficiency;\n",
               mlp_params, bytes_label(double(mlp_params) * 4), mlp_flops_per_row, gpu_rows_per_s,
               gpu_rows_per_s * mlp_flops_per_row / 1e12);
    fmt::print("- (b) CNN of {} parameters = {} of gradients; per-GPU compute per step stated as 1 ms and 5 ms "
               "(e.g. 256 eta-phi images of 64 x 64 per GPU at ~0.25 GFLOP forward each, x3 for training: "
               "~190 GFLOP, 5 ms at ~40 TFLOP/s TF32 on cuDNN).\n\n",
               cnn_params, bytes_label(double(cnn_params) * 4));

    fmt::print("| model | rows or images per GPU per step | compute/step | GPUs | all-reduce (alpha 10 / 35 us) | "
               "step (alpha 10 / 35 us) | efficiency (alpha 10 / 35 us) |\n|---|---|---|---|---|---|---|\n");
    auto row = [&](const std::string& model, const std::string& batch, double compute, double bytes) {
      for (const auto& ic : nets) {
        const double t10 = ring_seconds(bytes, ic.gpus, alphas[0], ic.bus_bw);
        const double t35 = ring_seconds(bytes, ic.gpus, alphas[1], ic.bus_bw);
        fmt::print("| {} | {} | {} | {} | {} / {} | {} / {} | {:.1f}% / {:.1f}% |\n", model, batch,
                   time_label(compute), ic.gpus, time_label(t10), time_label(t35), time_label(compute + t10),
                   time_label(compute + t35), 100 * compute / (compute + t10), 100 * compute / (compute + t35));
      }
    };
    const double mlp_bytes = double(mlp_params) * 4, cnn_bytes = double(cnn_params) * 4;
    for (double rows : {4096.0, 65536.0, 1048576.0, 2097152.0, 4194304.0})
      row("MLP", fmt::format("{:.0f}{}", rows, rows == 2097152.0 ? " (2^24 / 8: analysis A's batch on 8 GPUs)" : ""),
          rows / gpu_rows_per_s, mlp_bytes);
    row("CNN 1 M", "256 images (compute stated)", 1e-3, cnn_bytes);
    row("CNN 1 M", "256 images (compute stated)", 5e-3, cnn_bytes);

    fmt::print("\nWhat 90% needs (compute >= 9 x communication):\n\n");
    for (const auto& ic : nets)
      for (double a : alphas) {
        const double t_mlp = ring_seconds(mlp_bytes, ic.gpus, a, ic.bus_bw);
        const double t_cnn = ring_seconds(cnn_bytes, ic.gpus, a, ic.bus_bw);
        fmt::print("- {} GPUs, alpha {:.0f} us: MLP all-reduce {} (latency term {:.1f}%) -> >= {:.3g} M rows per GPU "
                   "per step ({} of compute); CNN all-reduce {} -> >= {} of compute per step\n",
                   ic.gpus, a * 1e6, time_label(t_mlp), 100 * 2.0 * (ic.gpus - 1) * a / t_mlp,
                   9 * t_mlp * gpu_rows_per_s / 1e6, time_label(9 * t_mlp), time_label(t_cnn),
                   time_label(9 * t_cnn));
      }
    fmt::print("\nCaveats: at 64 GPUs the flat ring's 126 sequential messages dominate small buffers; NCCL "
               "switches to trees (about 2 log2(p) alpha: {} at alpha 10 us, {} at 35 us) or NVLS/SHARP there, "
               "so the ring is the pessimistic case. If alpha is the latency of a whole small NCCL all-reduce "
               "rather than of one ring step, the latency terms above shrink by 2 (p - 1) = 14x at 8 GPUs. "
               "With a fixed GLOBAL batch (the engine's batch_size is global), rows per GPU = batch / p and "
               "compute shrinks by p while communication does not.\n",
               time_label(2 * std::log2(64.0) * 10e-6), time_label(2 * std::log2(64.0) * 35e-6));

    fmt::print("RESULT mode=allreduce ranks={} alpha_here_us={:.2f} busbw_here_gbs={:.3f} mlp_params={} "
               "peak_rss_mb={:.0f}",
               p, alpha_here * 1e6, bw_here / 1e9, mlp_params, rss);
    for (const auto& m : results) fmt::print(" t_{}={:.3g}", m.bytes, m.median_s);
    fmt::print("\n");
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "allreduce_bench: {}\n", e.what());
    dist::Environment::abort(1);
  }
}
