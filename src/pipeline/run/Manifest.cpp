#include "Manifest.hpp"

#include "../Build.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Json.hpp"
#include "bsmhunt/core/Random.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::pipeline {

namespace fs = std::filesystem;

std::string file_checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read {} for its checksum", path));
  std::vector<char> buffer(1 << 22);
  uint64_t h = 14695981039346656037ull, n = 0;
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    const auto got = std::size_t(in.gcount());
    std::size_t i = 0;
    for (; i + 8 <= got; i += 8) {  // FNV-1a over 64-bit words: GB/s, enough to notice any change
      uint64_t w;
      std::memcpy(&w, buffer.data() + i, 8);
      h = (h ^ w) * 1099511628211ull;
    }
    for (; i < got; ++i) h = (h ^ uint8_t(buffer[i])) * 1099511628211ull;
    n += got;
  }
  return fmt::format("{:016x}", mix64(h ^ n));
}

std::optional<FileState> stat_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  FileState s;
  s.path = path;
  s.size = fs::file_size(path, ec);
  s.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(fs::last_write_time(path, ec).time_since_epoch())
                   .count();
  return s;
}

std::optional<FileState> fingerprint(const std::string& path, const std::map<std::string, FileState>& known) {
  auto s = stat_file(path);
  if (!s) return s;
  const auto it = known.find(path);
  if (it != known.end() && it->second.size == s->size && it->second.mtime_ns == s->mtime_ns)
    s->checksum = it->second.checksum;
  else
    s->checksum = file_checksum(path);
  return s;
}

namespace {

// FNV-1a over the bytes, mixed: a damaged record (a flipped byte, a lost line) no
// longer matches the checksum line written with it.
std::string text_checksum(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (const char c : text) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return fmt::format("{:016x}", mix64(h ^ text.size()));
}

std::string record_body(const StageRecord& r) {
  std::string t = fmt::format("stage {}\nconfig_hash {}\nbuild {}\nseconds {}\n", r.stage, r.config_hash, r.build,
                              r.seconds);
  for (const auto& f : r.inputs) t += fmt::format("input {} {} {} {}\n", f.checksum, f.size, f.mtime_ns, f.path);
  for (const auto& f : r.outputs) t += fmt::format("output {} {} {} {}\n", f.checksum, f.size, f.mtime_ns, f.path);
  return t;
}

}  // namespace

std::string record_text(const StageRecord& r) {
  const std::string body = record_body(r);
  return body + "checksum " + text_checksum(body) + "\n";
}

std::optional<StageRecord> read_record(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The last line is "checksum X" over everything before it; anything else is damage
  // (or a record of a release before the checksum): no record, the stage is redone.
  const auto last = text.size() >= 2 ? text.rfind('\n', text.size() - 2) : std::string::npos;
  const std::size_t body_size = last == std::string::npos ? 0 : last + 1;
  const std::string_view body(text.data(), body_size);
  if (text.size() < body_size || text.substr(body_size) != "checksum " + text_checksum(body) + "\n") return std::nullopt;
  StageRecord r;
  std::istringstream lines{std::string(body)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "stage") ls >> r.stage;
    else if (key == "config_hash") ls >> r.config_hash;
    else if (key == "build") ls >> r.build;
    else if (key == "seconds") ls >> r.seconds;
    else if (key == "input" || key == "output") {
      FileState f;
      ls >> f.checksum >> f.size >> f.mtime_ns;
      std::getline(ls >> std::ws, f.path);
      if (!ls && f.path.empty()) return std::nullopt;
      (key == "input" ? r.inputs : r.outputs).push_back(f);
    }
  }
  // Only the exact text record_text writes is a record.
  if (record_body(r) != body) return std::nullopt;
  return r;
}


void write_job_manifest(const std::string& path, const Job& job, const std::string& job_file,
                        const std::vector<PlannedStage>& stages, const std::vector<std::optional<StageRecord>>& records,
                        int ranks) {
  json::Value list = json::Value::array();
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& rec = records[i];
    json::Value s = {{"stage", stages[i].stage->name},
                     {"command", "bsmhunt " + stages[i].stage->kind + " " + join(stages[i].args, " ")},
                     {"complete", rec.has_value()}};
    if (rec) {
      s["config_hash"] = rec->config_hash;
      s["build"] = rec->build;
      s["seconds"] = rec->seconds;
      for (const char* what : {"inputs", "outputs"}) {
        const auto& files = std::string(what) == "inputs" ? rec->inputs : rec->outputs;
        json::Value f = json::Value::array();
        for (const auto& file : files) f.push_back({{"path", file.path}, {"size", file.size}, {"checksum", file.checksum}});
        s[what] = f;
      }
    }
    list.push_back(s);
  }
  json::write(path, {{"format", "bsmhunt.manifest"},
                     {"job", job.name},
                     {"job_file", job_file},
                     {"build", build_id()},
                     {"ranks", ranks},
                     {"stages", list}});
}

}  // namespace bsmhunt::pipeline
