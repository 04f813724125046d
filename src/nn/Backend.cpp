#include "bsmhunt/nn/Backend.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "cpu/CpuBackend.hpp"
#include "cuda/CudaEntry.hpp"

namespace bsmhunt::nn {

DeviceKind parse_device(std::string_view name) {
  if (name == "cpu") return DeviceKind::cpu;
  if (name == "cuda" || name == "gpu") return DeviceKind::cuda;
  throw InputError(fmt::format("--device: '{}' is not one of cpu, cuda", name));
}

std::string_view to_string(DeviceKind kind) { return kind == DeviceKind::cpu ? "cpu" : "cuda"; }

Activation parse_activation(std::string_view name) {
  for (auto a : {Activation::linear, Activation::relu, Activation::leaky_relu, Activation::tanh, Activation::sigmoid})
    if (to_string(a) == name) return a;
  throw InputError(fmt::format("--activation '{}': expected one of linear, relu, leaky_relu, tanh, sigmoid{}", name,
                               did_you_mean(name, {"linear", "relu", "leaky_relu", "tanh", "sigmoid"})));
}

std::string_view to_string(Activation act) {
  switch (act) {
    case Activation::linear: return "linear";
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
  }
  return "?";
}

std::unique_ptr<Backend> make_backend(DeviceKind kind, int device_index) {
  if (kind == DeviceKind::cpu) return std::make_unique<CpuBackend>();
  return make_cuda_backend(device_index);  // nn_cuda, or the NoCuda build that throws
}

}  // namespace bsmhunt::nn
