#pragma once
#include <filesystem>
#include <string>

#include "bsmhunt/core/Archive.hpp"

namespace bsmhunt::io {

// Model and checkpoint files (docs/formats.md): an Archive as HDF5, written by one
// process. Entry names with '/' become groups; float arrays keep their shape;
// strings become attributes of their group; string lists fixed-length string
// datasets; byte blobs uint8 datasets. The root carries `format`, `version` and
// `complete` and a content `checksum`; the file is written to NAME.partial and
// renamed, so a killed writer never leaves a file that reads as complete. Its first
// 512 bytes (HDF5's user block) hold a seal: the length and FNV-1a hash of every byte
// after them, checked before HDF5 parses the file (docs/training.md, "File formats").
void write_archive(const std::filesystem::path& path, const Archive& archive, const std::string& format,
                   int64_t version);
// Reads every entry back; InputError naming the file when it is missing, not HDF5,
// of another format (`format` empty: any bsmhunt archive), incomplete, or damaged (its
// seal or content checksum does not match). A file without a seal (an older bsmhunt's)
// is read and checked by its content checksum.
Archive read_archive(const std::filesystem::path& path, const std::string& format);
// True if the file starts with the HDF5 signature (or HDF5 recognises it: a user
// block may come first). Not collective.
bool is_hdf5_file(const std::filesystem::path& path);
// The root group's string attribute `format` ("bsmhunt.features", ...), or "" when
// the file is not HDF5 or has none; an HDF5 file HDF5 cannot open is an InputError. Not collective.
std::string hdf5_format_attribute(const std::filesystem::path& path);

}  // namespace bsmhunt::io
