#include "bsmhunt/core/Json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "bsmhunt/core/AtomicFile.hpp"
#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::json {

namespace {

constexpr std::size_t kLineWidth = 100;

std::string scalar_text(const Value& v) {
  if (v.is_number_float() && !std::isfinite(v.get<double>())) return "null";
  return v.dump(-1, ' ', false, Value::error_handler_t::replace);
}

// The value on one line, with a space after ':' and ','.
std::string inline_text(const Value& v) {
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, item] : v.items()) {
      out += (first ? "" : ", ") + scalar_text(Value(key)) + ": " + inline_text(item);
      first = false;
    }
    return out + "}";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + inline_text(v[i]);
    return out + "]";
  }
  return scalar_text(v);
}

bool only_scalars(const Value& v) {
  for (const auto& item : v)
    if (item.is_structured()) return false;
  return true;
}

void layout(std::string& out, const Value& v, std::size_t indent) {
  const std::string one_line = inline_text(v);
  if (!v.is_structured() || v.empty() || indent + one_line.size() <= kLineWidth || (v.is_array() && only_scalars(v))) {
    out += one_line;
    return;
  }
  const std::string pad(indent + 2, ' ');
  out += v.is_object() ? "{\n" : "[\n";
  std::size_t i = 0;
  if (v.is_object()) {
    for (const auto& [key, item] : v.items()) {
      out += pad + scalar_text(Value(key)) + ": ";
      layout(out, item, indent + 2);
      out += ++i < v.size() ? ",\n" : "\n";
    }
  } else {
    for (const auto& item : v) {
      out += pad;
      layout(out, item, indent + 2);
      out += ++i < v.size() ? ",\n" : "\n";
    }
  }
  out += std::string(indent, ' ') + (v.is_object() ? "}" : "]");
}

}  // namespace

Value number(double v, std::string_view what) {
  if (!std::isfinite(v)) throw InternalError(fmt::format("JSON output: {} is not finite ({})", what, v));
  return v;
}

Value number_or_null(double v) { return std::isfinite(v) ? Value(v) : Value(nullptr); }

Value numbers(const std::vector<double>& v, std::string_view what) {
  Value out = Value::array();
  for (const double x : v) out.push_back(number(x, what));
  return out;
}

Value numbers_or_null(const std::vector<double>& v) {
  Value out = Value::array();
  for (const double x : v) out.push_back(number_or_null(x));
  return out;
}

std::string dump(const Value& value) {
  std::string out;
  layout(out, value, 0);
  return out + "\n";
}

void write(const std::filesystem::path& path, const Value& value) { write_file_atomically(path, dump(value)); }

Value read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the file", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return Value::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON (byte {}): {}", path.string(), e.byte, e.what()));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond double's range (found by fuzzing)
    throw InputError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

}  // namespace bsmhunt::json
