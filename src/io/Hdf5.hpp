#pragma once
// Private to the io layer: RAII handles and helpers over the HDF5 C API. Every
// failing call becomes an io error naming the file and object.
#include <hdf5.h>

#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/physics/EventBlock.hpp"
#include "bsmhunt/physics/Sample.hpp"

namespace bsmhunt::io::h5 {

// Once per process: turns off HDF5's own error printing (we report errors
// ourselves) and links in the libdeflate compress2 of FastDeflate.cpp.
void prepare_library();

// Records that H5Fclose failed (see bsmhunt/io/Hdf5State.hpp).
void note_failed_file_close() noexcept;
// H5Fclose, for the closer of a file open with the MPI-IO driver over more than one
// rank (its close is collective): Handle::reset tells such files by it.
herr_t close_parallel_file(hid_t file);
bool file_close_failed() noexcept;

// While alive on a thread, a memory fault (SIGSEGV, SIGBUS) inside the HDF5 library on
// that thread ends the process with exit 2 and "error: FILE: HDF5 crashed reading it
// ...: the file is damaged". HDF5 1.10 trusts metadata it keeps no checksum for (object
// headers of the 1.8 format, global heaps) and can fault on damaged values where it has
// no error path (found by the fuzzers, docs/reliability.md). Readers hold one around
// every call into HDF5 for an input file. A fault anywhere else, or outside a scope,
// keeps the handler that was there before (a crash of bsmhunt stays a crash). Nested
// scopes keep the outer file.
class ReadingScope {
 public:
  explicit ReadingScope(const std::string& file);
  ~ReadingScope();
  ReadingScope(const ReadingScope&) = delete;
  ReadingScope& operator=(const ReadingScope&) = delete;

 private:
  bool active_ = false;
};

class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      closer_ = o.closer_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    // A parallel file left by an exception is not closed: its close is collective,
    // and a rank that fails alone (a full disk while HDF5 fills a new dataset's
    // chunks) would wait in it for ranks still inside HDF5's own collectives. main()
    // then reports the error and ends the job (bsmhunt/io/Hdf5State.hpp).
    const bool file = closer_ == &H5Fclose || closer_ == &close_parallel_file;
    if (id_ >= 0 && closer_ == &close_parallel_file && std::uncaught_exceptions() > 0)
      note_failed_file_close();
    else if (id_ >= 0 && closer_ && closer_(id_) < 0 && file)
      note_failed_file_close();
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Throws bsmhunt::Error(context: HDF5 message) when id < 0.
Handle checked(hid_t id, Handle::Closer closer, const std::string& context);
// Opens an existing file (H5Fis_hdf5 already said it is HDF5) read-only; a file that
// HDF5 cannot open (cut short, damaged) is bad input: InputError naming it. The
// closer is close_parallel_file for a file open on more than one rank (see reset).
Handle open_for_reading(const std::string& path, hid_t fapl = H5P_DEFAULT, Handle::Closer closer = &H5Fclose);
// The same with the MPI-IO driver over `comm`, every rank of which calls it.
Handle open_parallel_for_reading(const dist::Communicator& comm, const std::string& path);
void check(herr_t status, const std::string& context);
// For reads of files from outside (H5Dread): a failure is a damaged input, InputError
// "<context>: the stored data cannot be read (<HDF5's reason>): the file is damaged"
// (a corrupted compressed chunk fails zlib's check here).
void check_read(herr_t status, const std::string& context);

hid_t native_type(physics::ColumnType t);
// The ColumnType of a dataset's stored type, or false if it is none of ours.
bool column_type_of(hid_t dataset, physics::ColumnType& out);

bool exists(hid_t loc, const std::string& path);
std::vector<std::string> children(hid_t group);
std::vector<std::string> attribute_names(hid_t obj);

// Attributes: scalars and variable-length UTF-8 strings.
void write_attribute(hid_t obj, const std::string& name, double value);
void write_attribute(hid_t obj, const std::string& name, int64_t value);
void write_attribute(hid_t obj, const std::string& name, uint64_t value);
void write_attribute(hid_t obj, const std::string& name, const std::string& value);
void write_attribute(hid_t obj, const std::string& name, const physics::ParameterValue& value);
// Readers throw Error(context + what was expected) when missing or of another kind.
double read_double_attribute(hid_t obj, const std::string& name, const std::string& context);
int64_t read_int_attribute(hid_t obj, const std::string& name, const std::string& context);
std::string read_string_attribute(hid_t obj, const std::string& name, const std::string& context);
physics::ParameterValue read_parameter_attribute(hid_t obj, const std::string& name, const std::string& context);

// Creates `partial` for parallel writing by all ranks of `comm`, with the
// attributes format, version and complete = 0.
Handle create_parallel_file(const dist::Communicator& comm, const std::string& partial, const std::string& format,
                            int64_t version);
// Collective: sets complete = 1, closes `file` and renames `partial` to `output`
// on rank 0; every rank throws if the rename failed.
void commit_parallel_file(const dist::Communicator& comm, Handle& file, const std::string& partial,
                          const std::string& output);

// The attributes of a sample group (docs/formats.md), written and validated.
void write_sample_attributes(hid_t group, const physics::SampleInfo& info);
physics::SampleInfo read_sample_attributes(hid_t group, const std::string& name, const std::string& context);

// Small datasets written whole by rank 0 (collective call, every rank passes the
// same data): 1-D or 2-D numbers, and 1-D arrays of fixed-length strings (numpy 'S').
void write_small_dataset(const dist::Communicator& comm, hid_t group, const std::string& name,
                         physics::ColumnType type, const std::vector<uint64_t>& dims, const void* data,
                         const std::string& context);
void write_string_dataset(const dist::Communicator& comm, hid_t group, const std::string& name,
                          const std::vector<std::string>& values, const std::string& context);
std::vector<std::string> read_string_dataset(hid_t group, const std::string& name, const std::string& context);

uint64_t dataset_length(hid_t dataset, const std::string& context);  // 1-D datasets only
// InputError "damaged" unless the file really stores `values` elements of `element_size`
// bytes for the dataset (call before allocating for a whole-dataset read): a damaged
// header can claim any shape. Contiguous and compact data must be all there; filtered
// chunks may compress, but not beyond deflate's 1032:1.
void check_dataset_storage(hid_t dataset, uint64_t values, std::size_t element_size, const std::string& context);


}  // namespace bsmhunt::io::h5
