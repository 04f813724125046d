#pragma once
// The engine's gradient and statistics sums (nn::Collective) through MPI: the CPU
// backend's device pointers are host memory. On GPUs NCCL takes over (nn_cuda),
// bootstrapped through this one.
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/nn/Collective.hpp"

namespace bsmhunt::pipeline {

class MpiCollective final : public nn::Collective {
 public:
  explicit MpiCollective(const dist::Communicator& comm) : comm_(comm) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void start_sum(float* values, std::size_t n) override {
    if (comm_.size() > 1 && n) pending_.push_back(comm_.start_sum_in_place(values, n));
  }
  void wait_all() override { dist::Communicator::wait_all(pending_); }
  void sum(double* values, std::size_t n) override {
    if (comm_.size() > 1 && n) comm_.sum_in_place(values, n);
  }

 private:
  const dist::Communicator& comm_;
  std::vector<MPI_Request> pending_;
};

}  // namespace bsmhunt::pipeline
