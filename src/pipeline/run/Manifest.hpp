#pragma once
// Private to run: fingerprints of files and the per-stage records of
// DIR/manifest/<stage>.txt that decide whether a stage is complete.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bsmhunt/pipeline/Run.hpp"

namespace bsmhunt::pipeline {

struct FileState {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string checksum;  // 16 hex digits over the whole content
};

// Size and modification time (no checksum), or nothing when the file is missing.
std::optional<FileState> stat_file(const std::string& path);
// The state of `path`, its checksum reused from `known` when size and time agree.
std::optional<FileState> fingerprint(const std::string& path, const std::map<std::string, FileState>& known);

// 16 hex digits over the whole content (FNV-1a over 64-bit words: GB/s, enough to
// notice any change). Throws when the file cannot be read.
std::string file_checksum(const std::string& path);

struct StageRecord {
  std::string stage, config_hash;
  std::string build;  // build_id() of the binary that made the outputs ("" in records of old releases)
  std::vector<FileState> inputs, outputs;
  double seconds = 0;
};
std::string record_text(const StageRecord& record);
// Nothing when the record is missing or damaged: its last line "checksum X" must match the
// text before it, and that text must be exactly what record_text writes.
std::optional<StageRecord> read_record(const std::string& path);

// DIR/manifest.json: every stage's command line and, when complete, its record.
void write_job_manifest(const std::string& path, const Job& job, const std::string& job_file,
                        const std::vector<PlannedStage>& stages, const std::vector<std::optional<StageRecord>>& records,
                        int ranks);

}  // namespace bsmhunt::pipeline
