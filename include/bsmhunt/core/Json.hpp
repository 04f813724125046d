#pragma once
// The one JSON writer and reader of bsmhunt: documents are built as ordered values
// (nlohmann::ordered_json, so the field order of docs/ is the order in the file)
// and laid out by dump(): scalars and short containers on one line, longer ones one
// element per line. Non-finite numbers are written as null.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace bsmhunt::json {

using Value = nlohmann::ordered_json;

// A finite number, or InternalError naming `what` (a non-finite value is a bug upstream).
Value number(double v, std::string_view what = "value");
// A number, or null for NaN / infinity (e.g. a cut without a significance).
Value number_or_null(double v);
Value numbers(const std::vector<double>& v, std::string_view what = "value");
Value numbers_or_null(const std::vector<double>& v);

// The text of `value`, ending in a newline.
std::string dump(const Value& value);
// dump() into PATH.partial, renamed to PATH when complete.
void write(const std::filesystem::path& path, const Value& value);
// Parses a JSON file; InputError naming the file and the position on failure.
Value read(const std::filesystem::path& path);

}  // namespace bsmhunt::json
