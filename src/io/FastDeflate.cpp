// HDF5's deflate filter (H5Z_FILTER_DEFLATE) compresses every chunk with one call to
// zlib's compress2. At full scale that call was 89% of extract's write phase, and
// HDF5 1.10 lets no one replace a built-in filter (H5Zregister refuses ids < 256),
// so this file defines compress2 itself: the executable's definition is the one the
// dynamic linker binds libhdf5's call to. libdeflate writes the same zlib format
// (RFC 1950) at the same level, so every reader (h5py, ROOT, HDF5 tools) inflates it
// unchanged; it is ~2x faster than zlib (docs/benchmarks.md, issue #20).
// BSMHUNT_DEFLATE=zlib forwards to zlib's own compress2: the A/B of the benchmark.
#include "bsmhunt/io/EventFile.hpp"

#include <dlfcn.h>
#include <libdeflate.h>
#include <zlib.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

using Compress2 = int (*)(Bytef*, uLongf*, const Bytef*, uLong, int);

// zlib's compress2: the next definition after ours in the lookup order (libz.so).
Compress2 libz_compress2() {
  static const Compress2 next = reinterpret_cast<Compress2>(dlsym(RTLD_NEXT, "compress2"));
  return next;
}

// zlib's compress2 when the environment asks for it, else nullptr.
Compress2 requested_zlib_compress2() {
  static const Compress2 chosen = [] {
    const char* choice = std::getenv("BSMHUNT_DEFLATE");
    return choice != nullptr && std::strcmp(choice, "zlib") == 0 ? libz_compress2() : nullptr;
  }();
  return chosen;
}

struct CompressorFree {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

// One compressor per level and thread: allocating one costs ~0.5 MB and some
// microseconds, more than compressing a small chunk.
libdeflate_compressor* compressor(int level) {
  thread_local std::array<std::unique_ptr<libdeflate_compressor, CompressorFree>, 10> by_level;
  auto& slot = by_level[static_cast<std::size_t>(level)];
  if (!slot) slot.reset(libdeflate_alloc_compressor(level));
  return slot.get();
}

}  // namespace

namespace bsmhunt::io {
const char* deflate_implementation() { return requested_zlib_compress2() == nullptr ? "libdeflate" : "zlib"; }
}  // namespace bsmhunt::io

extern "C" int compress2(Bytef* dest, uLongf* dest_len, const Bytef* source, uLong source_len, int level) {
  if (Compress2 zlib = requested_zlib_compress2()) return zlib(dest, dest_len, source, source_len, level);
  if (level == Z_DEFAULT_COMPRESSION) level = 6;  // zlib's meaning of -1
  if (level < 0 || level > 9) return Z_STREAM_ERROR;
  libdeflate_compressor* c = compressor(level);
  if (c == nullptr) return Z_MEM_ERROR;
  const std::size_t written = libdeflate_zlib_compress(c, source, source_len, dest, *dest_len);
  if (written == 0) {
    // libdeflate wants a few bytes more than zlib's compressBound for incompressible
    // input (61 bytes need 81, compressBound says 74). HDF5 gives exactly
    // compressBound and would store a failed chunk raw but marked deflated, so let
    // zlib, which fits, do those rare chunks.
    Compress2 zlib = libz_compress2();
    return zlib != nullptr ? zlib(dest, dest_len, source, source_len, level) : Z_BUF_ERROR;
  }
  *dest_len = static_cast<uLongf>(written);
  return Z_OK;
}
