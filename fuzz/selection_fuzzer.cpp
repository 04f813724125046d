// The cut-expression parser (--select, --cuts, --channels): text straight from
// job files and command lines.
#include <string>
#include <string_view>
#include <vector>

#include "bsmhunt/physics/features/Selection.hpp"
#include <cstddef>
#include <cstdint>

#include "FuzzSupport.hpp"
#include "bsmhunt/core/Error.hpp"

using namespace bsmhunt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const std::vector<std::string> names = {"met", "met_significance", "mt_llmet", "m_ll", "n_bjets",
                                                 "mt2", "channel_flag", "lep1_pt", "jet1_eta", "score"};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_accept_or_refuse([&] {
    const physics::Selection s = physics::parse_selection(text, names, "--select");
    // What was accepted must print and evaluate.
    const float row[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    (void)s.passes(row);
    (void)s.text();
  });
  fuzz::expect_accept_or_refuse([&] {
    for (const auto& c : physics::parse_channels(text, names, "--channels")) (void)c.selection.text();
  });
  return 0;
}
