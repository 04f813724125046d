#include "bsmhunt/dist/Collectively.hpp"

namespace bsmhunt::dist::detail {

void throw_lowest_failure(const Communicator& comm, uint64_t code, const std::string& message) {
  if (comm.all(code == 0)) return;
  const std::vector<uint64_t> codes = comm.all_gather(code);
  for (int r = 0; r < comm.size(); ++r) {
    if (codes[std::size_t(r)] == 0) continue;
    std::string text = message;
    comm.broadcast(text, r);
    if (codes[std::size_t(r)] == 1) throw InputError(text);
    if (codes[std::size_t(r)] == 3) throw InternalError(text);
    if (codes[std::size_t(r)] == 4) throw UnavailableError(text);
    throw Error(text);
  }
}

}  // namespace bsmhunt::dist::detail
