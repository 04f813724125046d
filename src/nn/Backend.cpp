#include "bsmhunt/nn/Backend.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "cpu/CpuBackend.hpp"
#include "cuda/CudaEntry.hpp"

namespace bsmhunt::nn {

DeviceKind parse_device(std::string_view name) {
  if (name == "cpu") return DeviceKind::cpu;
  if (name == "cuda" || name == "gpu") return DeviceKind::cuda;
  throw InputError(fmt::format("--device: '{}' is not one of cpu, cuda", name));
}

std::string_view to_string(DeviceKind kind) { return kind == DeviceKind::cpu ? "cpu" : "cuda"; }

std::unique_ptr<Backend> make_backend(DeviceKind kind, int device_index) {
  if (kind == DeviceKind::cpu) return std::make_unique<CpuBackend>();
  return make_cuda_backend(device_index);  // nn_cuda, or the NoCuda build that throws
}

}  // namespace bsmhunt::nn
