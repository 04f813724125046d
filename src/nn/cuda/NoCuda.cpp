// Linked instead of the CUDA backend in builds without nvcc.
#include "CudaEntry.hpp"
#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/nn/Collective.hpp"

namespace bsmhunt::nn {
namespace {
constexpr const char* kNoCuda =
    "this bsmhunt was built without CUDA (nvcc was not found at configure time); "
    "rebuild on a machine with the CUDA toolkit or use --device cpu";
}
std::unique_ptr<Backend> make_cuda_backend(int) { throw UnavailableError(std::string("--device cuda: ") + kNoCuda); }
std::vector<uint8_t> nccl_unique_id() { throw UnavailableError(std::string("NCCL: ") + kNoCuda); }
std::unique_ptr<Collective> make_nccl_collective(Backend&, const std::vector<uint8_t>&, Collective&) {
  throw UnavailableError(std::string("NCCL: ") + kNoCuda);
}
}  // namespace bsmhunt::nn
