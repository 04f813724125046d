#pragma once
#include <exception>
#include <string>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::dist {

// Every rank runs `f`; if any rank failed, every rank throws the error of the
// lowest failing rank (with work items dealt in order, the earliest data), so
// the message does not depend on the rank count and no rank is left waiting in
// a collective.
template <typename F>
void collectively(const Communicator& comm, F&& f) {
  uint64_t code = 0;  // 0 ok, 1 input, 2 other, 3 internal, 4 unavailable
  std::string message;
  try {
    f();
  } catch (const InputError& e) {
    code = 1, message = e.what();
  } catch (const InternalError& e) {
    code = 3, message = e.what();
  } catch (const UnavailableError& e) {
    code = 4, message = e.what();
  } catch (const std::exception& e) {
    code = 2, message = e.what();
  }
  if (comm.all(code == 0)) return;
  const std::vector<uint64_t> codes = comm.all_gather(code);
  for (int r = 0; r < comm.size(); ++r) {
    if (codes[std::size_t(r)] == 0) continue;
    comm.broadcast(message, r);
    if (codes[std::size_t(r)] == 1) throw InputError(message);
    if (codes[std::size_t(r)] == 3) throw InternalError(message);
    if (codes[std::size_t(r)] == 4) throw UnavailableError(message);
    throw Error(message);
  }
}

}  // namespace bsmhunt::dist
