#include "Build.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "run/Manifest.hpp"

namespace bsmhunt::pipeline {

const std::string& build_id() {
  static const std::string id = [] {
    try {
      return std::string(BSMHUNT_VERSION) + "+" + file_checksum("/proc/self/exe");
    } catch (const Error&) {
      return std::string(BSMHUNT_VERSION) + "+unknown";  // no /proc: the release number alone
    }
  }();
  return id;
}

}  // namespace bsmhunt::pipeline
