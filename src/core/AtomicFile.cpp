#include "bsmhunt/core/AtomicFile.hpp"

#include <fmt/format.h>

#include <fstream>
#include <system_error>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt {

std::filesystem::path partial_path(const std::filesystem::path& path) { return path.string() + ".partial"; }

void commit_partial(const std::filesystem::path& partial, const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error(fmt::format("cannot rename {} to {}: {}", partial.string(), path.string(), ec.message()));
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  const std::filesystem::path partial = partial_path(path);
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out.write(text.data(), std::streamsize(text.size()));
    out.flush();
    if (!out) throw Error(fmt::format("cannot write {}", partial.string()));
  }
  commit_partial(partial, path);
}

}  // namespace bsmhunt
