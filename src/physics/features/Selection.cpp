#include "bsmhunt/physics/features/Selection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::physics {

namespace {

struct OpText {
  const char* text;
  Condition::Op op;
};
// Two-character operators first, so ">=" is not read as ">".
constexpr OpText kOps[] = {{">=", Condition::Op::greater_equal}, {"<=", Condition::Op::less_equal},
                           {"==", Condition::Op::equal},         {"!=", Condition::Op::not_equal},
                           {">", Condition::Op::greater},        {"<", Condition::Op::less}};

const char* op_text(Condition::Op op) {
  for (const auto& o : kOps)
    if (o.op == op) return o.text;
  return "?";
}

// Splits on a multi-character separator.
std::vector<std::string> split_on(std::string_view text, std::string_view sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto at = text.find(sep, start);
    parts.emplace_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + sep.size();
  }
}

}  // namespace

bool Condition::passes(double x) const {
  switch (op) {
    case Op::greater: return x > value;
    case Op::greater_equal: return x >= value;
    case Op::less: return x < value;
    case Op::less_equal: return x <= value;
    case Op::equal: return x == value;
    case Op::not_equal: return x != value;
  }
  return false;
}

std::string Condition::text() const { return fmt::format("{} {} {}", name, op_text(op), value); }

std::string Selection::text() const {
  std::vector<std::string> parts;
  for (const auto& c : conditions) parts.push_back(c.text());
  return join(parts, " && ");
}

Selection parse_selection(std::string_view text, const std::vector<std::string>& names, std::string_view option) {
  Selection s;
  if (trim(text).empty()) return s;
  for (const auto& raw : split_on(text, "&&")) {
    const std::string part = trim(raw);
    const auto bad = [&](const std::string& why) {
      return InputError(fmt::format("{} '{}': condition '{}' {}", option, text, part, why));
    };
    if (part.empty()) throw bad("is empty (expected NAME OP VALUE joined by &&)");
    std::size_t at = std::string::npos;
    const OpText* found = nullptr;
    for (const auto& o : kOps) {
      const auto p = part.find(o.text);
      if (p != std::string::npos && (p < at || (p == at && std::string_view(o.text).size() == 2))) {
        at = p;
        found = &o;
      }
    }
    if (!found) throw bad("has no comparison (expected one of > >= < <= == !=)");
    Condition c;
    c.name = trim(part.substr(0, at));
    c.op = found->op;
    const std::string value = trim(part.substr(at + std::string_view(found->text).size()));
    const auto it = std::find(names.begin(), names.end(), c.name);
    if (it == names.end()) throw bad(fmt::format("uses unknown feature '{}'{}", c.name, did_you_mean(c.name, names)));
    c.column = std::size_t(it - names.begin());
    std::size_t used = 0;
    try {
      c.value = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value.size() || !std::isfinite(c.value))
      throw bad(fmt::format("compares with '{}', expected a finite number", value));
    s.conditions.push_back(c);
  }
  return s;
}

std::vector<Channel> parse_channels(std::string_view text, const std::vector<std::string>& names,
                                    std::string_view option) {
  std::vector<Channel> channels;
  if (trim(text).empty()) return {Channel{"all", {}}};
  for (const auto& raw : split(text, ';')) {
    const std::string part = trim(raw);
    if (part.empty()) continue;
    const auto colon = part.find(':');
    if (colon == std::string::npos)
      throw InputError(fmt::format("{} '{}': '{}' is not NAME: SELECTION (e.g. 'ee: channel_flag == 0')", option,
                                   text, part));
    Channel c{trim(part.substr(0, colon)), parse_selection(part.substr(colon + 1), names, option)};
    if (c.name.empty() || c.name.find_first_of("/ \t") != std::string::npos)
      throw InputError(fmt::format("{} '{}': channel name '{}' must be non-empty without '/' or spaces", option, text,
                                   c.name));
    for (const auto& other : channels)
      if (other.name == c.name) throw InputError(fmt::format("{} '{}': channel '{}' given twice", option, text, c.name));
    channels.push_back(std::move(c));
  }
  if (channels.empty()) throw InputError(fmt::format("{} '{}': no channel given", option, text));
  return channels;
}

}  // namespace bsmhunt::physics
