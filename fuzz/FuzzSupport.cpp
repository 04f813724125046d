#include "FuzzSupport.hpp"

#include <fmt/format.h>
#include <hdf5.h>
#include <sanitizer/lsan_interface.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Log.hpp"

namespace bsmhunt::fuzz {
namespace {

// Never destroyed: MPI_Finalize releases Open MPI's internal allocations without
// freeing them, which LeakSanitizer would report at exit as leaks of the harness.
dist::Environment* environment = nullptr;
dist::Communicator* communicator = nullptr;

std::filesystem::path scratch_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : (tmp ? tmp : "/tmp");
  auto dir = base / fmt::format("bsmhunt-fuzz-{}", ::getpid());
  std::filesystem::create_directories(dir);
  return dir;
}

[[noreturn]] void report_bug(const char* kind, const char* what) {
  std::fprintf(stderr, "\nbsmhunt fuzz: the reader threw %s: %s\n(a bug: bad input must be an InputError)\n", kind, what);
  std::fflush(stderr);
  std::abort();
}

// Every reader must close what it opened, also when it refuses the input. A handle
// left open keeps the file open inside HDF5, and the next input, written to the same
// path, would be read through the stale file's cached metadata: the harnesses' inputs
// would no longer be independent, and in production a long job would leak handles.
void expect_no_open_hdf5_objects() {
  const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (open > 0) {
    const std::string what = fmt::format("{} HDF5 object(s) left open (files {}, datasets {}, groups {}, attributes {}, types {})",
        open, H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE), H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET),
        H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_GROUP), H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ATTR),
        H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATATYPE));
    std::fprintf(stderr, "\nbsmhunt fuzz: the reader returned with %s\n(a bug: a reader closes what it opens)\n", what.c_str());
    std::fflush(stderr);
    std::abort();
  }
}

}  // namespace

void initialise(int* argc, char*** argv) {
  // Open MPI keeps (and at exit loses track of) allocations from MPI_Init on: not leaks
  // of any input, so LeakSanitizer ignores what is allocated here.
  __lsan_disable();
  environment = new dist::Environment(*argc, *argv);
  communicator = new dist::Communicator(dist::Communicator::world());
  __lsan_enable();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // HDF5 keeps what it frees on free lists and hands it back to the allocator only
  // later, so a block HDF5 freed and still read surfaced as memory bsmhunt had used
  // and freed (the model_file campaign's one unexplained report). With the lists
  // limited to nothing every HDF5 free reaches ASan at once, and such a report names
  // HDF5's own free (tools/fuzz then files it as upstream).
  H5set_free_list_limits(0, 0, 0, 0, 0, 0);
  log::set_level(log::Level::quiet);
  // The scratch directory goes when the fuzzer exits (libFuzzer calls exit()).
  static const std::filesystem::path dir = scratch_dir();
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });
}

const dist::Communicator& world() { return *communicator; }

std::string input_file(const uint8_t* data, std::size_t size, std::string_view suffix) {
  static const std::filesystem::path dir = scratch_dir();
  const auto path = dir / fmt::format("input{}", suffix);
  // A new file (a new inode), not the old one truncated: HDF5 recognises a file it
  // holds open by its inode, so nothing it might keep of one input's file (after an
  // open that failed half-way, say) can be handed to the next input.
  std::error_code ec;
  std::filesystem::remove(path, ec);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  // Readers write nothing, but a stray .partial from one input must not feed the next.
  std::filesystem::remove(path.string() + ".partial", ec);
  return path.string();
}

void expect_accept_or_refuse(const std::function<void()>& reader) {
  try {
    reader();
  } catch (const InternalError& e) {
    report_bug("bsmhunt::InternalError", e.what());
  } catch (const UnavailableError& e) {
    report_bug("bsmhunt::UnavailableError", e.what());
  } catch (const Error&) {
    // InputError, or an Error carrying the library's reason: a refusal.
  } catch (const std::exception& e) {
    report_bug(typeid(e).name(), e.what());
  } catch (...) {
    report_bug("a non-standard exception", "?");
  }
  expect_no_open_hdf5_objects();
}

}  // namespace bsmhunt::fuzz

// libFuzzer calls this once before the first input; every harness links it from here.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  bsmhunt::fuzz::initialise(argc, argv);
  return 0;
}
