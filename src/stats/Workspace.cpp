// HistFactory workspaces in pyhf's JSON schema: reading with the JSON path of every
// problem in its message, validation of what the likelihood needs, writing.
#include "bsmhunt/stats/Workspace.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/core/Strings.hpp"

namespace bsmhunt::stats {

namespace {

struct ModifierName {
  ModifierType type;
  const char* text;
};
constexpr ModifierName kModifierNames[] = {{ModifierType::normfactor, "normfactor"},
                                           {ModifierType::normsys, "normsys"},
                                           {ModifierType::histosys, "histosys"},
                                           {ModifierType::staterror, "staterror"},
                                           {ModifierType::lumi, "lumi"}};

// Reads JSON with the path of the value in every error ("channels[0].samples[1].data").
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", where_, path.empty() ? "(top level)" : path, what));
  }
  const json::Value& member(const json::Value& v, const std::string& path, const char* key) const {
    if (!v.is_object()) fail(path, "expected an object");
    const auto it = v.find(key);
    if (it == v.end()) fail(path, fmt::format("missing \"{}\"", key));
    return *it;
  }
  const json::Value* optional_member(const json::Value& v, const std::string& path, const char* key) const {
    if (!v.is_object()) fail(path, "expected an object");
    const auto it = v.find(key);
    return it == v.end() ? nullptr : &*it;
  }
  const json::Value& array(const json::Value& v, const std::string& path) const {
    if (!v.is_array()) fail(path, "expected an array");
    return v;
  }
  std::string string(const json::Value& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected a string");
    return v.get<std::string>();
  }
  double number(const json::Value& v, const std::string& path) const {
    if (!v.is_number()) fail(path, "expected a number");
    const double x = v.get<double>();
    if (!std::isfinite(x)) fail(path, "not a finite number");
    return x;
  }
  std::vector<double> numbers(const json::Value& v, const std::string& path) const {
    array(v, path);
    std::vector<double> out;
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(number(v[i], fmt::format("{}[{}]", path, i)));
    return out;
  }

 private:
  std::string where_;
};

ModifierType parse_type(const Reader& rd, const json::Value& v, const std::string& path) {
  const std::string text = rd.string(v, path);
  std::vector<std::string> names;
  for (const auto& m : kModifierNames) {
    if (text == m.text) return m.type;
    names.emplace_back(m.text);
  }
  if (text == "shapesys" || text == "shapefactor")
    rd.fail(path, fmt::format("modifier type \"{}\" is not supported by bsmhunt (supported: {})", text,
                              join(names, ", ")));
  rd.fail(path, fmt::format("unknown modifier type \"{}\" (the schema's types bsmhunt supports: {}){}", text,
                            join(names, ", "), did_you_mean(text, names)));
}

Modifier parse_modifier(const Reader& rd, const json::Value& v, const std::string& path) {
  Modifier m;
  m.name = rd.string(rd.member(v, path, "name"), path + ".name");
  m.type = parse_type(rd, rd.member(v, path, "type"), path + ".type");
  const json::Value& data = rd.member(v, path, "data");
  const std::string dpath = path + ".data";
  switch (m.type) {
    case ModifierType::normfactor:
    case ModifierType::lumi:
      if (!data.is_null()) rd.fail(dpath, fmt::format("a {} modifier has \"data\": null", to_string(m.type)));
      break;
    case ModifierType::normsys:
      m.hi = rd.number(rd.member(data, dpath, "hi"), dpath + ".hi");
      m.lo = rd.number(rd.member(data, dpath, "lo"), dpath + ".lo");
      break;
    case ModifierType::histosys:
      m.hi_data = rd.numbers(rd.member(data, dpath, "hi_data"), dpath + ".hi_data");
      m.lo_data = rd.numbers(rd.member(data, dpath, "lo_data"), dpath + ".lo_data");
      break;
    case ModifierType::staterror: m.errors = rd.numbers(data, dpath); break;
  }
  return m;
}

ParameterConfig parse_parameter(const Reader& rd, const json::Value& v, const std::string& path) {
  ParameterConfig p;
  p.name = rd.string(rd.member(v, path, "name"), path + ".name");
  // pyhf writes one value per parameter of a set in lists; bsmhunt's scalar
  // parameters take lists of length one.
  const auto single = [&](const char* key) -> std::optional<double> {
    const json::Value* x = rd.optional_member(v, path, key);
    if (!x) return std::nullopt;
    const std::string kpath = path + "." + key;
    const auto values = rd.numbers(*x, kpath);
    if (values.size() != 1)
      rd.fail(kpath, fmt::format("expected one value (bsmhunt's configurable parameters are scalars), got {}",
                                 values.size()));
    return values[0];
  };
  p.init = single("inits");
  p.auxdata = single("auxdata");
  p.sigma = single("sigmas");
  if (const json::Value* b = rd.optional_member(v, path, "bounds")) {
    const std::string bpath = path + ".bounds";
    rd.array(*b, bpath);
    if (b->size() != 1) rd.fail(bpath, "expected one [low, high] pair");
    const auto pair = rd.numbers((*b)[0], bpath + "[0]");
    if (pair.size() != 2 || !(pair[0] < pair[1])) rd.fail(bpath + "[0]", "expected [low, high] with low < high");
    p.bounds = std::make_pair(pair[0], pair[1]);
  }
  if (const json::Value* f = rd.optional_member(v, path, "fixed")) {
    if (!f->is_boolean()) rd.fail(path + ".fixed", "expected true or false");
    p.fixed = f->get<bool>();
  }
  return p;
}

std::string sample_path(std::size_t c, std::size_t s) { return fmt::format("channels[{}].samples[{}]", c, s); }

}  // namespace

const char* to_string(ModifierType type) {
  for (const auto& m : kModifierNames)
    if (m.type == type) return m.text;
  return "?";
}

const WorkspaceChannel* Workspace::channel(const std::string& name) const {
  for (const auto& c : channels)
    if (c.name == name) return &c;
  return nullptr;
}

const Measurement& Workspace::measurement(const std::string& name) const {
  if (measurements.empty()) throw InputError("the workspace has no measurement (it names the parameter of interest)");
  if (name.empty()) return measurements.front();
  std::vector<std::string> names;
  for (const auto& m : measurements) {
    if (m.name == name) return m;
    names.push_back(m.name);
  }
  throw InputError(fmt::format("no measurement '{}' in the workspace (measurements: {}){}", name, join(names, ", "),
                               did_you_mean(name, names)));
}

void validate(const Workspace& w, const std::string& where) {
  const Reader rd(where);
  if (w.channels.empty()) rd.fail("channels", "no channel");
  if (w.observations.size() != w.channels.size())
    rd.fail("observations", fmt::format("{} observations for {} channels", w.observations.size(), w.channels.size()));
  std::set<std::string> channel_names;
  std::map<std::string, ModifierType> parameter_type;
  std::map<std::string, std::size_t> staterror_bins;
  for (std::size_t c = 0; c < w.channels.size(); ++c) {
    const WorkspaceChannel& ch = w.channels[c];
    const std::string cpath = fmt::format("channels[{}]", c);
    if (!channel_names.insert(ch.name).second) rd.fail(cpath + ".name", fmt::format("channel '{}' twice", ch.name));
    if (ch.samples.empty()) rd.fail(cpath + ".samples", fmt::format("channel '{}' has no sample", ch.name));
    const std::size_t bins = ch.bins();
    if (bins == 0) rd.fail(sample_path(c, 0) + ".data", fmt::format("channel '{}' has no bin", ch.name));
    std::set<std::string> sample_names;
    for (std::size_t s = 0; s < ch.samples.size(); ++s) {
      const WorkspaceSample& sm = ch.samples[s];
      const std::string spath = sample_path(c, s);
      if (!sample_names.insert(sm.name).second)
        rd.fail(spath + ".name", fmt::format("sample '{}' twice in channel '{}'", sm.name, ch.name));
      if (sm.data.size() != bins)
        rd.fail(spath + ".data", fmt::format("{} bins, but sample '{}' of channel '{}' has {} (a different binning)",
                                             sm.data.size(), ch.samples[0].name, ch.name, bins));
      for (std::size_t i = 0; i < bins; ++i)
        if (!std::isfinite(sm.data[i]) || sm.data[i] < 0)
          rd.fail(fmt::format("{}.data[{}]", spath, i), fmt::format("yield {} (expected finite and >= 0)", sm.data[i]));
      std::set<std::pair<std::string, ModifierType>> seen;
      for (std::size_t k = 0; k < sm.modifiers.size(); ++k) {
        const Modifier& m = sm.modifiers[k];
        const std::string mpath = fmt::format("{}.modifiers[{}]", spath, k);
        if (m.name.empty()) rd.fail(mpath + ".name", "empty modifier name");
        if (!seen.insert({m.name, m.type}).second)
          rd.fail(mpath, fmt::format("modifier '{}' ({}) twice on sample '{}'", m.name, to_string(m.type), sm.name));
        // One parameter per name: normsys and histosys may share it (one systematic
        // changing both the rate and the shape); any other mix is a mistake.
        const auto shared_kind = [](ModifierType t) { return t == ModifierType::histosys ? ModifierType::normsys : t; };
        const auto [it, fresh] = parameter_type.emplace(m.name, shared_kind(m.type));
        if (!fresh && it->second != shared_kind(m.type))
          rd.fail(mpath + ".type", fmt::format("modifier '{}' is {} here and {} elsewhere", m.name, to_string(m.type),
                                               to_string(it->second)));
        if (m.type == ModifierType::normsys && (!(m.hi > 0) || !(m.lo > 0)))
          rd.fail(mpath + ".data", fmt::format("normsys '{}': hi {} and lo {} must be > 0", m.name, m.hi, m.lo));
        if (m.type == ModifierType::histosys)
          for (const auto* v : {&m.hi_data, &m.lo_data})
            if (v->size() != bins)
              rd.fail(mpath + (v == &m.hi_data ? ".data.hi_data" : ".data.lo_data"),
                      fmt::format("{} values for the {} bins of channel '{}' (a template with a different binning)",
                                  v->size(), bins, ch.name));
        if (m.type == ModifierType::staterror) {
          if (m.errors.size() != bins)
            rd.fail(mpath + ".data", fmt::format("{} uncertainties for the {} bins of channel '{}'", m.errors.size(),
                                                 bins, ch.name));
          for (std::size_t i = 0; i < bins; ++i)
            if (m.errors[i] < 0)
              rd.fail(fmt::format("{}.data[{}]", mpath, i), fmt::format("uncertainty {} < 0", m.errors[i]));
          const auto [jt, first] = staterror_bins.emplace(m.name, bins);
          if (!first && jt->second != bins)
            rd.fail(mpath, fmt::format("staterror '{}' spans {} bins here, {} elsewhere", m.name, bins, jt->second));
        }
      }
    }
    if (w.observations[c].size() != bins)
      rd.fail(fmt::format("observations[{}].data", c),
              fmt::format("{} values for the {} bins of channel '{}'", w.observations[c].size(), bins, ch.name));
    for (std::size_t i = 0; i < bins; ++i)
      if (!std::isfinite(w.observations[c][i]) || w.observations[c][i] < 0)
        rd.fail(fmt::format("observations[{}].data[{}]", c, i),
                fmt::format("count {} (expected finite and >= 0)", w.observations[c][i]));
  }
  if (w.measurements.empty()) rd.fail("measurements", "no measurement (it names the parameter of interest)");
  for (std::size_t m = 0; m < w.measurements.size(); ++m) {
    const Measurement& ms = w.measurements[m];
    const std::string mpath = fmt::format("measurements[{}].config", m);
    const auto it = parameter_type.find(ms.poi);
    if (it == parameter_type.end())
      rd.fail(mpath + ".poi", fmt::format("no modifier '{}' in any sample", ms.poi));
    if (it->second != ModifierType::normfactor)
      rd.fail(mpath + ".poi", fmt::format("'{}' is a {} modifier; the parameter of interest is a normfactor", ms.poi,
                                          to_string(it->second)));
    for (std::size_t p = 0; p < ms.parameters.size(); ++p) {
      const ParameterConfig& pc = ms.parameters[p];
      const std::string ppath = fmt::format("{}.parameters[{}]", mpath, p);
      const auto pt = parameter_type.find(pc.name);
      if (pt == parameter_type.end())
        rd.fail(ppath + ".name", fmt::format("no modifier '{}' in any sample", pc.name));
      if (pt->second == ModifierType::staterror)
        rd.fail(ppath + ".name", fmt::format("'{}' is a staterror set: bsmhunt configures no per-bin parameters "
                                             "(its constraints come from the samples' uncertainties)",
                                             pc.name));
      if (pc.sigma && !(*pc.sigma > 0)) rd.fail(ppath + ".sigmas", "a sigma must be > 0");
      if (pc.bounds && pc.init && (*pc.init < pc.bounds->first || *pc.init > pc.bounds->second))
        rd.fail(ppath + ".inits", fmt::format("init {} outside the bounds [{}, {}]", *pc.init, pc.bounds->first,
                                              pc.bounds->second));
    }
    for (const auto& [name, type] : parameter_type) {
      if (type != ModifierType::lumi) continue;
      bool configured = false;
      for (const auto& pc : ms.parameters) configured = configured || (pc.name == name && pc.auxdata && pc.sigma);
      if (!configured)
        rd.fail(mpath + ".parameters",
                fmt::format("the lumi modifier '{}' needs an entry with \"auxdata\" and \"sigmas\"", name));
    }
  }
}

Workspace workspace_from_json(const json::Value& doc, const std::string& where) {
  const Reader rd(where);
  Workspace w;
  const json::Value& channels = rd.array(rd.member(doc, "", "channels"), "channels");
  for (std::size_t c = 0; c < channels.size(); ++c) {
    const std::string cpath = fmt::format("channels[{}]", c);
    WorkspaceChannel ch;
    ch.name = rd.string(rd.member(channels[c], cpath, "name"), cpath + ".name");
    const json::Value& samples = rd.array(rd.member(channels[c], cpath, "samples"), cpath + ".samples");
    for (std::size_t s = 0; s < samples.size(); ++s) {
      const std::string spath = sample_path(c, s);
      WorkspaceSample sm;
      sm.name = rd.string(rd.member(samples[s], spath, "name"), spath + ".name");
      sm.data = rd.numbers(rd.member(samples[s], spath, "data"), spath + ".data");
      const json::Value& mods = rd.array(rd.member(samples[s], spath, "modifiers"), spath + ".modifiers");
      for (std::size_t k = 0; k < mods.size(); ++k)
        sm.modifiers.push_back(parse_modifier(rd, mods[k], fmt::format("{}.modifiers[{}]", spath, k)));
      ch.samples.push_back(std::move(sm));
    }
    w.channels.push_back(std::move(ch));
  }
  // Observations are matched to channels by name, as pyhf does.
  const json::Value& obs = rd.array(rd.member(doc, "", "observations"), "observations");
  w.observations.resize(w.channels.size());
  std::vector<bool> observed(w.channels.size(), false);
  for (std::size_t o = 0; o < obs.size(); ++o) {
    const std::string opath = fmt::format("observations[{}]", o);
    const std::string name = rd.string(rd.member(obs[o], opath, "name"), opath + ".name");
    std::size_t c = 0;
    while (c < w.channels.size() && w.channels[c].name != name) ++c;
    if (c == w.channels.size()) rd.fail(opath + ".name", fmt::format("no channel '{}'", name));
    if (observed[c]) rd.fail(opath + ".name", fmt::format("channel '{}' observed twice", name));
    observed[c] = true;
    w.observations[c] = rd.numbers(rd.member(obs[o], opath, "data"), opath + ".data");
  }
  for (std::size_t c = 0; c < w.channels.size(); ++c)
    if (!observed[c]) rd.fail("observations", fmt::format("no observation for channel '{}'", w.channels[c].name));
  const json::Value& meas = rd.array(rd.member(doc, "", "measurements"), "measurements");
  for (std::size_t m = 0; m < meas.size(); ++m) {
    const std::string mpath = fmt::format("measurements[{}]", m);
    Measurement ms;
    ms.name = rd.string(rd.member(meas[m], mpath, "name"), mpath + ".name");
    const json::Value& config = rd.member(meas[m], mpath, "config");
    ms.poi = rd.string(rd.member(config, mpath + ".config", "poi"), mpath + ".config.poi");
    const json::Value& params = rd.array(rd.member(config, mpath + ".config", "parameters"),
                                         mpath + ".config.parameters");
    for (std::size_t p = 0; p < params.size(); ++p)
      ms.parameters.push_back(parse_parameter(rd, params[p], fmt::format("{}.config.parameters[{}]", mpath, p)));
    w.measurements.push_back(std::move(ms));
  }
  if (const json::Value* v = rd.optional_member(doc, "", "version")) {
    const std::string version = rd.string(*v, "version");
    if (version != "1.0.0") rd.fail("version", fmt::format("schema version \"{}\" (bsmhunt reads 1.0.0)", version));
  }
  validate(w, where);
  return w;
}

json::Value to_json(const Workspace& w) {
  json::Value channels = json::Value::array();
  for (const auto& ch : w.channels) {
    json::Value samples = json::Value::array();
    for (const auto& sm : ch.samples) {
      json::Value mods = json::Value::array();
      for (const auto& m : sm.modifiers) {
        json::Value data;  // null for normfactor and lumi
        if (m.type == ModifierType::normsys) data = {{"hi", m.hi}, {"lo", m.lo}};
        if (m.type == ModifierType::histosys)
          data = {{"hi_data", json::numbers(m.hi_data, m.name)}, {"lo_data", json::numbers(m.lo_data, m.name)}};
        if (m.type == ModifierType::staterror) data = json::numbers(m.errors, m.name);
        mods.push_back({{"name", m.name}, {"type", to_string(m.type)}, {"data", data}});
      }
      samples.push_back({{"name", sm.name}, {"data", json::numbers(sm.data, sm.name)}, {"modifiers", mods}});
    }
    channels.push_back({{"name", ch.name}, {"samples", samples}});
  }
  json::Value observations = json::Value::array();
  for (std::size_t c = 0; c < w.channels.size(); ++c)
    observations.push_back({{"name", w.channels[c].name}, {"data", json::numbers(w.observations[c], "observation")}});
  json::Value measurements = json::Value::array();
  for (const auto& ms : w.measurements) {
    json::Value params = json::Value::array();
    for (const auto& p : ms.parameters) {
      json::Value e = {{"name", p.name}};
      if (p.bounds) e["bounds"] = {{p.bounds->first, p.bounds->second}};
      if (p.init) e["inits"] = {*p.init};
      if (p.fixed) e["fixed"] = true;
      if (p.auxdata) e["auxdata"] = {*p.auxdata};
      if (p.sigma) e["sigmas"] = {*p.sigma};
      params.push_back(e);
    }
    measurements.push_back({{"name", ms.name}, {"config", {{"poi", ms.poi}, {"parameters", params}}}});
  }
  return {{"channels", channels}, {"observations", observations}, {"measurements", measurements}, {"version", "1.0.0"}};
}

Workspace read_workspace(const std::string& path) { return workspace_from_json(json::read(path), path); }

void write_workspace(const std::string& path, const Workspace& workspace) {
  validate(workspace, path);
  json::write(path, to_json(workspace));
}

}  // namespace bsmhunt::stats
