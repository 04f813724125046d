#pragma once
#include <memory>

#include "bsmhunt/nn/Backend.hpp"

namespace bsmhunt::nn {
// Defined by the nn_cuda target: CudaBackend.cu where nvcc exists, NoCuda.cpp elsewhere.
std::unique_ptr<Backend> make_cuda_backend(int device_index);
}  // namespace bsmhunt::nn
