// GoogleTest main for tests run under mpirun: every rank runs every test, rank 0
// prints the usual report and writes XML, the other ranks print only their failed
// assertions (with the rank), and the exit code is the AND over ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

// What a rank other than 0 says: each failed assertion where it happened, and the
// failed test's name, so a failure seen only on rank 2 is not a silent exit code.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "unknown",
                 r.line_number(), r.summary());
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed())
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<char*> args(argv, argv + argc);
  if (rank != 0)  // one XML report, from rank 0
    std::erase_if(args, [](char* a) { return std::strncmp(a, "--gtest_output", 14) == 0; });
  int n = int(args.size());
  args.push_back(nullptr);  // argv[argc] is null: InitGoogleTest moves it down with the flags it removes (ASan)
  ::testing::InitGoogleTest(&n, args.data());
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  const int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return global;
}
