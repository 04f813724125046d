#pragma once
// The CUDA backend for a GPU test, or why there is none. A test skips only on a host
// without an NVIDIA GPU; on a host that has one (its device node exists), a backend
// that cannot start (driver mismatch, a build without CUDA, ...) is a failure.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Backend.hpp"

namespace bsmhunt::nn::test {

inline bool host_has_nvidia_gpu() {
  std::error_code ec;
  return std::filesystem::exists("/dev/nvidiactl", ec) || std::filesystem::exists("/dev/nvidia0", ec);
}

inline std::unique_ptr<Backend> cuda_backend_or_reason(std::string& reason) {
  try {
    return make_backend(DeviceKind::cuda);
  } catch (const UnavailableError& e) {
    reason = e.what();
    return nullptr;
  }
}

}  // namespace bsmhunt::nn::test

// In a TEST body: `auto gpu = ...` or skip (no GPU on this host) or fail (a GPU that
// cannot be used).
#define BSMHUNT_CUDA_BACKEND_OR_SKIP(gpu)                                                              \
  std::string gpu##_reason;                                                                            \
  auto gpu = ::bsmhunt::nn::test::cuda_backend_or_reason(gpu##_reason);                                \
  if (!gpu) {                                                                                          \
    ASSERT_FALSE(::bsmhunt::nn::test::host_has_nvidia_gpu())                                           \
        << "this host has an NVIDIA GPU, but the CUDA backend does not start: " << gpu##_reason;       \
    GTEST_SKIP() << "no NVIDIA GPU on this host: " << gpu##_reason;                                    \
  }
