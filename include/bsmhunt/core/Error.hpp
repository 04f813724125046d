#pragma once
#include <stdexcept>
#include <string>

namespace bsmhunt {

// Base of every error bsmhunt throws on purpose. The message is the whole story a
// user needs: which file, dataset, row or option, and what was expected.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad user input (options, files, values): the app exits with status 2.
class InputError : public Error {
 public:
  using Error::Error;
};

// An invariant of bsmhunt itself was violated: a bug, exit status 3.
class InternalError : public Error {
 public:
  using Error::Error;
};

// Requested hardware or optional backend is missing (e.g. --device cuda without GPU).
class UnavailableError : public Error {
 public:
  using Error::Error;
};

// A stage stopped on request (SIGTERM or SIGUSR1: Slurm's preemption or time limit) at a
// point where nothing it wrote can be mistaken for a result: exit status 75, run the
// same command again. The message says where it stopped.
class Interrupted : public Error {
 public:
  using Error::Error;
};

}  // namespace bsmhunt
