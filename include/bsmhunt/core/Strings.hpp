#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace bsmhunt {

// Edit distance (insertions, deletions, substitutions), for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word`, or "" when nothing is reasonably close.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "" — appended to unknown-name errors.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);
std::vector<std::string> split(std::string_view text, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// For log lines: the first `shown` parts joined, then "<sep>... (N more, <rest>)" when
// there are more: join_abridged({a, b, c}, ", ", 2, "in the model file") ->
// "a, b, ... (1 more, in the model file)".
std::string join_abridged(const std::vector<std::string>& parts, std::string_view sep, std::size_t shown,
                          std::string_view rest);
std::string trim(std::string_view text);
// Text safe for a terminal, a log file and a UTF-8 reader: valid UTF-8 and newlines
// and tabs as they are, every other byte (invalid UTF-8, control characters) as
// "\xNN". Messages quote names read from files, and a damaged file's bytes must not
// reach the terminal raw (printable("b\xf5g") -> "b\\xf5g").
std::string printable(std::string_view text);
// The trimmed, non-empty items of a separated list: " a, b,,c " -> {a, b, c}.
std::vector<std::string> split_list(std::string_view text, char sep = ',');
// fnmatch-style '*' and '?' patterns, e.g. sample names: glob_match("zp_DH_*", name).
bool glob_match(std::string_view pattern, std::string_view name);

}  // namespace bsmhunt
