// GoogleTest main for tests run under mpirun: every rank runs every test, only
// rank 0 prints and writes XML, and the exit code is the AND over ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<char*> args(argv, argv + argc);
  if (rank != 0)  // one XML report, from rank 0
    std::erase_if(args, [](char* a) { return std::strncmp(a, "--gtest_output", 14) == 0; });
  int n = int(args.size());
  ::testing::InitGoogleTest(&n, args.data());
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int local = RUN_ALL_TESTS();
  int global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return global;
}
