#include "bsmhunt/core/Strings.hpp"

#include <algorithm>
#include <numeric>

namespace bsmhunt {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0u : 1u)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // Accept up to a third of the word's length in edits (at least 2), or a prefix.
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  if (best_distance <= limit) return best;
  for (const auto& c : candidates)
    if (!word.empty() && c.starts_with(word)) return c;
  return "";
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string m = closest_match(word, candidates);
  return m.empty() ? std::string() : " (did you mean '" + m + "'?)";
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t pos = text.find(sep, start);
    out.push_back(trim(text.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string join_abridged(const std::vector<std::string>& parts, std::string_view sep, std::size_t shown,
                          std::string_view rest) {
  if (parts.size() <= shown) return join(parts, sep);
  std::string out = join(std::vector<std::string>(parts.begin(), parts.begin() + std::ptrdiff_t(shown)), sep);
  if (shown) out += sep;
  return out + "... (" + std::to_string(parts.size() - shown) + " more, " + std::string(rest) + ")";
}

std::string trim(std::string_view t) {
  const auto b = t.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const auto e = t.find_last_not_of(" \t\r\n");
  return std::string(t.substr(b, e - b + 1));
}

std::vector<std::string> split_list(std::string_view text, char sep) {
  std::vector<std::string> out;
  for (const auto& part : split(text, sep))
    if (!trim(part).empty()) out.push_back(trim(part));
  return out;
}

bool glob_match(std::string_view p, std::string_view s) {
  // Iterative '*' backtracking.
  std::size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi, ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++, mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1, si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace bsmhunt
