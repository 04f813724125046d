#pragma once
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::dist {

namespace detail {
// Runs f; returns 0 ok, 1 input, 2 other, 3 internal, 4 unavailable, and the message.
template <typename F>
uint64_t run_classified(F&& f, std::string& message) {
  try {
    f();
  } catch (const InputError& e) {
    return message = e.what(), 1;
  } catch (const InternalError& e) {
    return message = e.what(), 3;
  } catch (const UnavailableError& e) {
    return message = e.what(), 4;
  } catch (const std::exception& e) {
    return message = e.what(), 2;
  }
  return 0;
}
void throw_lowest_failure(const Communicator& comm, uint64_t code, const std::string& message);
}  // namespace detail

// Every rank runs `f`; if any rank failed, every rank throws the error of the
// lowest failing rank (with work items dealt in order, the earliest data), so
// the message does not depend on the rank count and no rank is left waiting in
// a collective.
template <typename F>
void collectively(const Communicator& comm, F&& f) {
  std::string message;
  const uint64_t code = detail::run_classified(f, message);
  detail::throw_lowest_failure(comm, code, message);
}

// The same for work that may last longer than --collective-timeout on purpose (a
// Python helper on rank 0, uneven conversions on every rank): the ranks that finish
// first wait in Communicator::sleeping_barrier, which the watchdog does not time, so
// a long report does not end the job with exit 124. A rank that hangs inside `f`
// is then not caught by the watchdog.
template <typename F>
void collectively_long(const Communicator& comm, F&& f) {
  std::string message;
  const uint64_t code = detail::run_classified(f, message);
  comm.sleeping_barrier();
  detail::throw_lowest_failure(comm, code, message);
}

}  // namespace bsmhunt::dist
