#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace bsmhunt::nn {

class Backend;

// How data-parallel replicas sum their gradients. nn does not know MPI: the
// pipeline layer implements this with MPI_Allreduce on the CPU and with NCCL on
// GPUs (make_nccl_collective below), so the engine builds where MPI does not.
class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Starts the in-place sum over replicas of a device buffer; complete after
  // wait_all(). The trainer starts gradient buckets while backward still runs, so a
  // bucket's reduction overlaps the backward pass of the layers below it.
  virtual void start_sum(float* device, std::size_t n) = 0;
  virtual void wait_all() = 0;
  // Blocking sum of host doubles (losses, weight sums, counts, stop requests).
  virtual void sum(double* host, std::size_t n) = 0;
  void sum_now(float* device, std::size_t n) {
    start_sum(device, n);
    wait_all();
  }
};

// One replica: sums are identities.
class LocalCollective final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void start_sum(float*, std::size_t) override {}
  void wait_all() override {}
  void sum(double*, std::size_t) override {}
};

// (CUDA files are C++17: no std::span in this header.)
// NCCL (nn_cuda): 128 bytes that rank 0 creates and every rank receives (the
// pipeline broadcasts them with MPI); UnavailableError in builds without CUDA.
std::vector<uint8_t> nccl_unique_id();
// Device buffers are summed with ncclAllReduce on a communication stream ordered
// after the compute stream; host doubles go through `host`, the MPI collective.
std::unique_ptr<Collective> make_nccl_collective(Backend& cuda_backend, const std::vector<uint8_t>& unique_id,
                                                 Collective& host);

}  // namespace bsmhunt::nn
