#pragma once
// What every harness of fuzz/ shares: MPI and HDF5 set up once, the fuzzer's bytes
// written to a file the reader under test opens by path (the code path users hit),
// and the verdict on what the reader did.
//
// A reader of outside input may refuse an input with bsmhunt::InputError (or
// bsmhunt::Error, e.g. an HDF5 read that fails with the library's reason); anything
// else is a bug the harness turns into a crash for libFuzzer to report: an
// InternalError, a foreign exception (std::out_of_range, std::bad_alloc, ...), and of
// course every sanitizer report, leak or time-out.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "bsmhunt/dist/Communicator.hpp"

namespace bsmhunt::fuzz {

// MPI (singleton, one rank), HDF5 error printing off, logging quiet. Called by the
// LLVMFuzzerInitialize of FuzzSupport.cpp, which every harness links.
void initialise(int* argc, char*** argv);
const dist::Communicator& world();

// Writes `bytes` to a per-process file in /dev/shm (or $TMPDIR) whose name ends in
// `suffix`, replacing what the previous input wrote; returns its path.
std::string input_file(const uint8_t* data, std::size_t size, std::string_view suffix);

// Runs `reader`; returns normally when it succeeds or refuses the input with a
// bsmhunt::InputError or bsmhunt::Error; aborts (a crash libFuzzer records) on
// anything else, printing what was thrown.
void expect_accept_or_refuse(const std::function<void()>& reader);

}  // namespace bsmhunt::fuzz
