#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/physics/generator/Channel.hpp"

namespace bsmhunt::physics {

// Each channel's factory lives in its own file; register new channels here.
std::unique_ptr<Channel> make_dilepton_met_channel();
std::unique_ptr<Channel> make_dijet_channel();
std::unique_ptr<Channel> make_monojet_channel();
std::unique_ptr<Channel> make_trilepton_channel();

namespace {
struct Registration {
  const char* name;
  std::unique_ptr<Channel> (*make)();
};
constexpr Registration kChannels[] = {
    {"dilepton_met", make_dilepton_met_channel},
    {"dijet", make_dijet_channel},
    {"monojet", make_monojet_channel},
    {"trilepton", make_trilepton_channel},
};
}  // namespace

std::vector<std::string> channel_names() {
  std::vector<std::string> names;
  for (const auto& r : kChannels) names.emplace_back(r.name);
  return names;
}

std::unique_ptr<Channel> make_channel(std::string_view name) {
  for (const auto& r : kChannels)
    if (name == r.name) return r.make();
  throw InputError(fmt::format("--channel: unknown channel '{}'{}; known channels: {}", name,
                               did_you_mean(name, channel_names()), join(channel_names(), ", ")));
}

}  // namespace bsmhunt::physics
