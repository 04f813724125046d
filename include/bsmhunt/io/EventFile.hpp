#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/dist/Communicator.hpp"
#include "bsmhunt/physics/EventBlock.hpp"
#include "bsmhunt/physics/Sample.hpp"

namespace bsmhunt::io {

inline constexpr const char* kEventFormat = "bsmhunt.events";
inline constexpr int64_t kEventFormatVersion = 1;

// HDF5 compression of the row datasets of event, feature and score files: byte
// shuffle + deflate at deflate_level 1-9 (any HDF5 reader, h5py and pandas included,
// decompresses them), or 0 for contiguous uncompressed datasets.
struct Compression {
  int deflate_level = 1;
};
// "deflate" (level 1), "deflate:LEVEL" or "none"; InputError naming `option` otherwise.
Compression parse_compression(const std::string& text, const char* option = "--compression");
std::string to_string(Compression compression);
// Who compresses the deflate chunks in this process: "libdeflate" (the zlib-format
// compress2 of src/io/FastDeflate.cpp, ~2x zlib's speed), or "zlib" where the
// environment sets BSMHUNT_DEFLATE=zlib. Either output is standard zlib data.
const char* deflate_implementation();

// Bytes of rows each rank keeps in memory before it spools the rest to disk.
constexpr uint64_t kDefaultSpoolMemoryBytes = uint64_t(256) << 20;

struct WriteOptions {
  bool overwrite = false;
  Compression compression;
  uint64_t spool_memory_bytes = kDefaultSpoolMemoryBytes;  // --spool-memory
};

// Checks that `output` may be written: its directory exists and it does not exist
// unless `overwrite`. Collective: rank 0 looks, every rank throws the same InputError.
void check_output_path(const dist::Communicator& comm, const std::filesystem::path& output, bool overwrite,
                       const char* option = "--output");

// Writes an event file (docs/formats.md) with parallel HDF5, all ranks together.
// Data go to "<output>.partial" which commit() renames to `output`: a file with
// the final name is always complete. Destroying an uncommitted writer removes the
// partial file.
class EventFileWriter {
 public:
  // Collective. Creates every sample's group, attributes and (empty, extendible)
  // datasets following `schema`.
  EventFileWriter(const dist::Communicator& comm, std::filesystem::path output, WriteOptions options,
                  std::vector<physics::Parameter> file_attributes, physics::EventSchema schema,
                  std::vector<physics::SampleInfo> samples);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // Collective: adds samples after those given so far (e.g. pseudo-data whose
  // size is known only after the MC). Indices continue from the existing ones.
  void add_samples(const std::vector<physics::SampleInfo>& samples);

  static constexpr std::size_t kNoSample = std::size_t(-1);
  // Collective ordered append. Each rank passes the block of events it made for
  // sample `sample` (kNoSample and an empty block if none). In the file, the
  // blocks of one round follow each other in rank order and rounds follow each
  // other; samples must be non-decreasing in rank order within a round.
  void append_round(std::size_t sample, const physics::EventBlock& block);
  // Collective: the final metadata of every sample (n_generated, sum_of_weights, ...).
  void write_sample_info(const std::vector<physics::SampleInfo>& samples);
  // Collective: checks every sample got its n_events, closes and renames into place.
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One sample of an event file as found on disk.
struct SampleLayout {
  physics::SampleInfo info;
  physics::EventSchema schema;  // the columns and collections it stores
};

// Opens and validates an event file: format and version, the samples group,
// required sample attributes, dataset types and lengths, offsets bounds. Every
// violation is an InputError naming the file, the object and what was expected.
class EventFileReader {
 public:
  EventFileReader(const dist::Communicator& comm, std::filesystem::path path);
  ~EventFileReader();
  EventFileReader(const EventFileReader&) = delete;
  EventFileReader& operator=(const EventFileReader&) = delete;

  const std::filesystem::path& path() const;
  const std::vector<physics::Parameter>& attributes() const;
  double luminosity_ifb() const;
  std::string channel() const;
  const std::vector<SampleLayout>& samples() const;
  // InputError naming the file, the unknown sample and the closest known one.
  std::size_t sample_index(std::string_view name) const;

  // Reads events [begin, end) of sample `sample` into `block` (replacing its
  // content; the block takes the sample's schema, restricted to `columns` when not
  // empty: column or collection names). Independent I/O: ranks read different
  // slices at once. Checks that offsets increase and stay within the members.
  void read(std::size_t sample, uint64_t begin, uint64_t end, physics::EventBlock& block,
            const std::vector<std::string>& columns = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bsmhunt::io
