#pragma once
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bsmhunt/core/ExactSum.hpp"

namespace bsmhunt::dist {

// Initialises MPI (threaded: MPI_THREAD_FUNNELED) for the life of the program and
// tells the logger this process's rank. One per process, in main().
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  // Kills every rank with `code`: used after a rank-local error, where the other
  // ranks may be waiting in a collective and would otherwise hang.
  [[noreturn]] static void abort(int code);
  // True if every rank calls this within `seconds` (after an error: did every rank
  // fail?). Uses a communicator of its own, so that it never matches a collective the
  // other ranks are in; any MPI error counts as "no".
  static bool all_ranks_arrive_within(double seconds);
};

// Contiguous range [begin, end) of items owned by one rank.
struct Range {
  uint64_t begin = 0, end = 0;
  uint64_t size() const { return end - begin; }
};
// Balanced contiguous partition of n items into `parts`; the first n % parts get one more.
Range partition(uint64_t n, int parts, int index);

// Where this process sits on its node among all the job's ranks (MPI_COMM_WORLD split
// by shared memory): its index there (= its GPU) and how many ranks share the node (who
// share its cores). Collective over the world on the first call, which every command
// makes at its start; cached after it, so sub-communicators may ask it freely.
struct NodePlacement {
  int local_rank = 0, local_size = 1;
};
NodePlacement node_placement();

// A thin, value-type view of an MPI communicator. Every method is collective
// unless it says otherwise.
class Communicator {
 public:
  static Communicator world();
  explicit Communicator(MPI_Comm comm);

  int rank() const { return rank_; }  // not collective
  int size() const { return size_; }  // not collective
  bool is_root() const { return rank_ == 0; }
  MPI_Comm native() const { return comm_; }

  void barrier() const;
  uint64_t sum(uint64_t local) const;
  double sum(double local) const;  // NOT bitwise rank-invariant: use ExactSum for results
  double max(double local) const;
  double min(double local) const;
  ExactSum sum(const ExactSum& local) const;  // bitwise rank-invariant
  std::vector<ExactSum> sum(const std::vector<ExactSum>& local) const;
  // The same for raw 128-bit fixed-point accumulators (ExactSum::raw), in place.
  void sum_in_place(Int128* raw, std::size_t n) const;
  void sum_in_place(std::vector<uint64_t>& values) const;
  void sum_in_place(std::vector<double>& values) const;
  void sum_in_place(double* values, std::size_t n) const;
  // Non-blocking in-place float sum (gradient buckets); finish with wait_all().
  MPI_Request start_sum_in_place(float* values, std::size_t n) const;
  static void wait_all(std::vector<MPI_Request>& requests);
  // A barrier that sleeps instead of spinning: ranks waiting for rank 0 to finish a
  // single-process task (XGBoost training) leave the cores to it.
  void sleeping_barrier() const;
  // True on every rank iff `local` is true on every rank: lets ranks agree to
  // throw together instead of one rank leaving a collective.
  bool all(bool local) const;
  uint64_t exclusive_prefix_sum(uint64_t local) const;
  std::vector<uint64_t> all_gather(uint64_t local) const;
  // Gathers `count` values from every rank: result[r * count + i].
  std::vector<uint64_t> all_gather(const std::vector<uint64_t>& local) const;
  std::vector<double> all_gather(const std::vector<double>& local) const;
  void broadcast(std::string& value, int root = 0) const;
  void broadcast(std::vector<uint64_t>& values, int root = 0) const;
  void broadcast(std::vector<uint8_t>& bytes, int root = 0) const;
  // Sub-communicator of the ranks with equal `color` (e.g. one per scan point).
  Communicator split(int color, int key) const;
  // Ranks sharing this node (MPI_Comm_split_type SHARED): local rank = GPU index.
  Communicator split_shared() const;

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace bsmhunt::dist
