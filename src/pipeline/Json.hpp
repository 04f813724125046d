#pragma once
// Small helpers for the JSON results of the statistics commands (fit, significance,
// bumphunt): written by hand because the documents are flat and their field order
// is part of the documentation.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace bsmhunt::pipeline::json {

std::string quote(std::string_view s);
// Shortest text that reads back to the same double; a non-finite value is a bug
// upstream (InternalError naming `what`).
std::string number(double v, std::string_view what = "value");
// As number(), but NaN/inf become null (a cut without significance).
std::string number_or_null(double v);
std::string numbers(const std::vector<double>& v, std::string_view what = "value");
// NAME.partial, then renamed: a reader never sees half a document.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace bsmhunt::pipeline::json
