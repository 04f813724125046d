// Linked instead of the CUDA backend in builds without nvcc.
#include "CudaEntry.hpp"
#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::nn {
std::unique_ptr<Backend> make_cuda_backend(int) {
  throw UnavailableError(
      "--device cuda: this bsmhunt was built without CUDA (nvcc was not found at configure time); "
      "rebuild on a machine with the CUDA toolkit or use --device cpu");
}
}  // namespace bsmhunt::nn
