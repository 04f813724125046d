// bsmhunt: the one executable. Every subcommand is collective over MPI_COMM_WORLD.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/io/Hdf5State.hpp"
#include "bsmhunt/pipeline/Command.hpp"
#include "bsmhunt/pipeline/Train.hpp"

int main(int argc, char** argv) {
  bsmhunt::dist::Environment mpi(argc, argv);
  int code = 0;
  std::string message;
  try {
    code = bsmhunt::pipeline::main_dispatch(argc, argv);
  } catch (const bsmhunt::Interrupted& e) {
    code = bsmhunt::pipeline::kInterruptedExitCode, message = e.what();
  } catch (const bsmhunt::InputError& e) {
    code = 2, message = e.what();
  } catch (const bsmhunt::UnavailableError& e) {
    code = 4, message = e.what();
  } catch (const bsmhunt::InternalError& e) {
    code = 3, message = std::string("internal error (please report): ") + e.what();
  } catch (const std::exception& e) {
    code = 1, message = e.what();
  }
  if (message.empty()) return code;
  if (bsmhunt::dist::Environment::all_ranks_arrive_within(10.0)) {  // every rank failed too
    // One message, from rank 0, and a clean MPI shutdown.
    if (bsmhunt::log::rank() == 0) {
      if (code == bsmhunt::pipeline::kInterruptedExitCode) bsmhunt::log::warn("{}", message);  // asked for, not a failure
      else bsmhunt::log::error("{}", message);
    }
    if (bsmhunt::io::hdf5_file_close_failed()) {
      // HDF5's own shutdown inside MPI_Finalize would crash on the half-closed file.
      std::fflush(stdout), std::fflush(stderr);
      std::_Exit(code);
    }
    return code;
  }
  // Only some ranks failed; the others may wait in a collective forever.
  bsmhunt::log::error("{}", message);
  bsmhunt::dist::Environment::abort(code);
}
