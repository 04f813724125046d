#include "Json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <system_error>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::pipeline::json {

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\')
      out += '\\', out += ch;
    else if (static_cast<unsigned char>(ch) < 0x20)
      out += fmt::format("\\u{:04x}", int(ch));
    else
      out += ch;
  }
  return out + "\"";
}

std::string number(double v, std::string_view what) {
  if (!std::isfinite(v)) throw InternalError(fmt::format("JSON output: {} is not finite ({})", what, v));
  return fmt::format("{}", v);
}

std::string number_or_null(double v) { return std::isfinite(v) ? fmt::format("{}", v) : std::string("null"); }

std::string numbers(const std::vector<double>& v, std::string_view what) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + number(v[i], what);
  return out + "]";
}

void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::string partial = path.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error(fmt::format("cannot write {}", partial));
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error(fmt::format("cannot rename {} to {}: {}", partial, path.string(), ec.message()));
}

}  // namespace bsmhunt::pipeline::json
