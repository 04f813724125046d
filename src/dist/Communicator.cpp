#include "bsmhunt/dist/Communicator.hpp"

#include <algorithm>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include <cstdlib>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/RemovedOnAbort.hpp"
#include "bsmhunt/dist/Watchdog.hpp"

namespace bsmhunt::dist {
namespace {
MPI_Comm& error_agreement_comm() {
  static MPI_Comm comm = MPI_COMM_NULL;
  return comm;
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw Error(fmt::format("MPI error in {}: {}", what, std::string(text, len)));
  }
}
}  // namespace

Environment::Environment(int& argc, char**& argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_dup(MPI_COMM_WORLD, &error_agreement_comm()), "MPI_Comm_dup");
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  log::set_rank(rank);
}

Environment::~Environment() {
  stop_watching_collectives();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void Environment::abort(int code) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int size = 1;
  if (initialized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  remove_files_registered_for_abort();
  if (initialized && size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

bool Environment::all_ranks_arrive_within(double seconds) {
  MPI_Comm comm = error_agreement_comm();
  if (comm == MPI_COMM_NULL) return false;
  MPI_Request request = MPI_REQUEST_NULL;
  if (MPI_Ibarrier(comm, &request) != MPI_SUCCESS) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int done = 0;
    if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Range partition(uint64_t n, int parts, int index) {
  const uint64_t p = uint64_t(parts), i = uint64_t(index);
  const uint64_t base = n / p, extra = n % p;
  const uint64_t begin = i * base + std::min(i, extra);
  return {begin, begin + base + (i < extra ? 1 : 0)};
}

Communicator Communicator::world() { return Communicator(MPI_COMM_WORLD); }

Communicator::Communicator(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

void Communicator::barrier() const {
  const CollectiveWait wait("MPI_Barrier");
  check(MPI_Barrier(comm_), "MPI_Barrier");
}

uint64_t Communicator::sum(uint64_t local) const {
  const CollectiveWait wait("MPI_Allreduce");
  uint64_t out = 0;
  check(MPI_Allreduce(&local, &out, 1, MPI_UINT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}
double Communicator::sum(double local) const {
  const CollectiveWait wait("MPI_Allreduce");
  double out = 0;
  check(MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}
double Communicator::max(double local) const {
  const CollectiveWait wait("MPI_Allreduce");
  double out = 0;
  check(MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce");
  return out;
}
double Communicator::min(double local) const {
  const CollectiveWait wait("MPI_Allreduce");
  double out = 0;
  check(MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_MIN, comm_), "MPI_Allreduce");
  return out;
}

void Communicator::sum_in_place(Int128* raw_values, std::size_t n) const {
  const CollectiveWait wait("MPI_Allreduce");
  // Each 128-bit accumulator travels as four 32-bit limbs, each in a 64-bit lane, and
  // the lanes are summed with MPI's own integer sum: the 32 spare bits of a lane take
  // the carries of up to 2^31 ranks, so every lane sum is exact, and recombining the
  // lanes modulo 2^128 gives the exact total whatever the order of the additions
  // (integer addition is associative). Traffic is 2x the accumulators, independent of
  // the rank count (an all-gather would move P times as much).
  std::vector<int64_t> lanes(4 * n);
  for (std::size_t i = 0; i < n; ++i) {
    const UInt128 raw = static_cast<UInt128>(raw_values[i]);
    int64_t* l = &lanes[4 * i];
    l[0] = int64_t(uint64_t(raw) & 0xffffffffu);
    l[1] = int64_t(uint64_t(raw) >> 32);
    l[2] = int64_t(uint64_t(raw >> 64) & 0xffffffffu);
    l[3] = int64_t(int32_t(uint32_t(uint64_t(raw >> 96))));  // the top limb keeps the sign
  }
  for (std::size_t at = 0; at < lanes.size(); at += std::size_t(1) << 28) {  // MPI counts are int
    const int count = int(std::min(lanes.size() - at, std::size_t(1) << 28));
    check(MPI_Allreduce(MPI_IN_PLACE, lanes.data() + at, count, MPI_INT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  }
  for (std::size_t i = 0; i < n; ++i) {
    const int64_t* l = &lanes[4 * i];
    const UInt128 total = static_cast<UInt128>(uint64_t(l[0])) + (static_cast<UInt128>(uint64_t(l[1])) << 32) +
                          (static_cast<UInt128>(uint64_t(l[2])) << 64) +
                          (static_cast<UInt128>(static_cast<Int128>(l[3])) << 96);
    raw_values[i] = static_cast<Int128>(total);
  }
}

std::vector<ExactSum> Communicator::sum(const std::vector<ExactSum>& local) const {
  std::vector<Int128> raw(local.size());
  for (std::size_t i = 0; i < local.size(); ++i) raw[i] = local[i].raw();
  sum_in_place(raw.data(), raw.size());
  std::vector<ExactSum> out(local.size());
  for (std::size_t i = 0; i < local.size(); ++i) out[i] = ExactSum::from_raw(raw[i]);
  return out;
}
ExactSum Communicator::sum(const ExactSum& local) const { return sum(std::vector<ExactSum>{local}).front(); }

void Communicator::sum_in_place(std::vector<uint64_t>& v) const {
  const CollectiveWait wait("MPI_Allreduce");
  check(MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_UINT64_T, MPI_SUM, comm_), "MPI_Allreduce");
}
void Communicator::sum_in_place(std::vector<double>& v) const {
  const CollectiveWait wait("MPI_Allreduce");
  check(MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
}

void Communicator::sum_in_place(double* v, std::size_t n) const {
  const CollectiveWait wait("MPI_Allreduce");
  check(MPI_Allreduce(MPI_IN_PLACE, v, int(n), MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
}

MPI_Request Communicator::start_sum_in_place(float* v, std::size_t n) const {
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Iallreduce(MPI_IN_PLACE, v, int(n), MPI_FLOAT, MPI_SUM, comm_, &r), "MPI_Iallreduce");
  return r;
}

void Communicator::wait_all(std::vector<MPI_Request>& requests) {
  const CollectiveWait wait("MPI_Waitall");
  if (requests.empty()) return;
  check(MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  requests.clear();
}

void Communicator::sleeping_barrier() const {
  enter_unwatched_collective("MPI_Ibarrier (sleeping, unwatched)");
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(comm_, &r), "MPI_Ibarrier");
  for (int done = 0;;) {
    check(MPI_Test(&r, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool Communicator::all(bool local) const {
  const CollectiveWait wait("MPI_Allreduce");
  int in = local ? 1 : 0, out = 0;
  check(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MIN, comm_), "MPI_Allreduce");
  return out == 1;
}

uint64_t Communicator::exclusive_prefix_sum(uint64_t local) const {
  const CollectiveWait wait("MPI_Exscan");
  uint64_t out = 0;
  check(MPI_Exscan(&local, &out, 1, MPI_UINT64_T, MPI_SUM, comm_), "MPI_Exscan");
  return rank_ == 0 ? 0 : out;  // MPI leaves rank 0's result undefined
}

std::vector<uint64_t> Communicator::all_gather(uint64_t local) const {
  const CollectiveWait wait("MPI_Allgather");
  std::vector<uint64_t> out(static_cast<std::size_t>(size_));
  check(MPI_Allgather(&local, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, comm_), "MPI_Allgather");
  return out;
}
std::vector<uint64_t> Communicator::all_gather(const std::vector<uint64_t>& local) const {
  const CollectiveWait wait("MPI_Allgather");
  std::vector<uint64_t> out(local.size() * std::size_t(size_));
  check(MPI_Allgather(local.data(), int(local.size()), MPI_UINT64_T, out.data(), int(local.size()), MPI_UINT64_T,
                      comm_),
        "MPI_Allgather");
  return out;
}

std::vector<double> Communicator::all_gather(const std::vector<double>& local) const {
  const CollectiveWait wait("MPI_Allgather");
  std::vector<double> out(local.size() * std::size_t(size_));
  check(MPI_Allgather(local.data(), int(local.size()), MPI_DOUBLE, out.data(), int(local.size()), MPI_DOUBLE, comm_),
        "MPI_Allgather");
  return out;
}

void Communicator::broadcast(std::string& value, int root) const {
  const CollectiveWait wait("MPI_Bcast");
  uint64_t n = value.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
  value.resize(n);
  check(MPI_Bcast(value.data(), int(n), MPI_CHAR, root, comm_), "MPI_Bcast");
}
void Communicator::broadcast(std::vector<uint64_t>& values, int root) const {
  const CollectiveWait wait("MPI_Bcast");
  uint64_t n = values.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
  values.resize(n);
  check(MPI_Bcast(values.data(), int(n), MPI_UINT64_T, root, comm_), "MPI_Bcast");
}

void Communicator::broadcast(std::vector<uint8_t>& bytes, int root) const {
  const CollectiveWait wait("MPI_Bcast");
  uint64_t n = bytes.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
  bytes.resize(n);
  // In chunks below 2^31 bytes (MPI counts are int).
  for (uint64_t off = 0; off < n; off += (uint64_t(1) << 30))
    check(MPI_Bcast(bytes.data() + off, int(std::min<uint64_t>(n - off, uint64_t(1) << 30)), MPI_BYTE, root, comm_),
          "MPI_Bcast");
}

Communicator Communicator::split(int color, int key) const {
  const CollectiveWait wait("MPI_Comm_split");
  MPI_Comm out;
  check(MPI_Comm_split(comm_, color, key, &out), "MPI_Comm_split");
  return Communicator(out);
}
NodePlacement node_placement() {
  static const NodePlacement placement = [] {
    const Communicator node = Communicator::world().split_shared();
    return NodePlacement{node.rank(), node.size()};
  }();
  return placement;
}

Communicator Communicator::split_shared() const {
  const CollectiveWait wait("MPI_Comm_split_type");
  MPI_Comm out;
  check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &out), "MPI_Comm_split_type");
  return Communicator(out);
}

}  // namespace bsmhunt::dist
