#pragma once
// FNV-1a, 64 bits: the hash of bsmhunt's content checksums (Archive::checksum) and of
// the seal of model and checkpoint files (io/ArchiveFile). Not cryptographic: it finds
// damage (flipped bits, cut or changed bytes), not tampering.
#include <cstddef>
#include <cstdint>
#include <string>

namespace bsmhunt {

struct Fnv1a {
  uint64_t h = 14695981039346656037ull;
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  // The length of every field, so that fields cannot run into each other ("ab"+"c"
  // differs from "a"+"bc").
  void size(uint64_t n) { bytes(&n, sizeof n); }
  void text(const std::string& s) { size(s.size()), bytes(s.data(), s.size()); }
};

}  // namespace bsmhunt
