#pragma once
// The one rule for every output bsmhunt writes: write NAME.partial, then rename it
// to NAME when it is complete, so that a reader (or a later stage) never sees half
// a file. A crash leaves only the .partial behind, which nothing accepts.
#include <filesystem>
#include <string_view>

namespace bsmhunt {

// NAME.partial beside NAME.
std::filesystem::path partial_path(const std::filesystem::path& path);

// Renames the finished `partial` to `path`; Error naming both on failure.
void commit_partial(const std::filesystem::path& partial, const std::filesystem::path& path);

// Writes `text` to NAME.partial, flushes it and renames it to NAME.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace bsmhunt
