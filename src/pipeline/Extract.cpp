#include "bsmhunt/pipeline/Extract.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>

#include "bsmhunt/core/Error.hpp"
#include "bsmhunt/dist/Collectively.hpp"
#include "bsmhunt/core/ExactSum.hpp"
#include "bsmhunt/core/Log.hpp"
#include "bsmhunt/core/Progress.hpp"
#include "bsmhunt/core/Strings.hpp"
#include "bsmhunt/core/Units.hpp"
#include "bsmhunt/io/EventFile.hpp"
#include "bsmhunt/io/FeatureFile.hpp"
#include "bsmhunt/physics/FourVector.hpp"
#include "bsmhunt/physics/Kinematics.hpp"
#include "bsmhunt/physics/MetSignificance.hpp"
#include "bsmhunt/physics/Mt2.hpp"
#include "bsmhunt/physics/generator/Driver.hpp"
#include "bsmhunt/pipeline/WorkItems.hpp"

namespace bsmhunt::pipeline {

namespace {

// ---------------------------------------------------------------- feature sets

struct FeatureDef {
  const char* name;
  const char* unit;
};

// dilepton_met, in file order; the indices below name them.
constexpr std::array<FeatureDef, 26> kDilepton = {{
    {"lep1_pt", "GeV"}, {"lep1_eta", ""},        {"lep1_phi", "rad"},   {"lep2_pt", "GeV"},
    {"lep2_eta", ""},   {"lep2_phi", "rad"},     {"mll", "GeV"},        {"ptll", "GeV"},
    {"met", "GeV"},     {"met_phi", "rad"},      {"met_significance", ""}, {"mt_llmet", "GeV"},
    {"mt2", "GeV"},     {"dphi_ll", "rad"},      {"dphi_ll_met", "rad"}, {"dr_ll", ""},
    {"n_jets", ""},     {"n_bjets", ""},         {"ht", "GeV"},         {"jet1_pt", "GeV"},
    {"jet1_eta", ""},   {"jet1_phi", "rad"},     {"jet2_pt", "GeV"},    {"jet2_eta", ""},
    {"jet2_phi", "rad"}, {"channel_flag", ""},
}};
enum Dilepton : std::size_t {
  lep1_pt, lep1_eta, lep1_phi, lep2_pt, lep2_eta, lep2_phi, mll, ptll, met_, met_phi_, met_sig, mt_llmet, mt2_,
  dphi_ll, dphi_ll_met, dr_ll, n_jets, n_bjets, ht_, jet1_pt, jet1_eta, jet1_phi, jet2_pt, jet2_eta, jet2_phi,
  channel_flag,
};
constexpr std::size_t kFirstJetFeature = jet1_pt, kJetFeatures = 6;
bool is_jet_feature(std::size_t f) { return f >= kFirstJetFeature && f < kFirstJetFeature + kJetFeatures; }
bool is_jet_pt(std::size_t f) { return f == jet1_pt || f == jet2_pt; }

constexpr std::array<FeatureDef, 6> kDijet = {{
    {"mjj", "GeV"}, {"mj1", "GeV"}, {"mj2", "GeV"}, {"tau21_j1", ""}, {"tau21_j2", ""}, {"deta_jj", ""},
}};

enum class Set { dilepton_met, dijet };

Set parse_set(const std::string& name, const std::string& where) {
  if (name == "dilepton_met") return Set::dilepton_met;
  if (name == "dijet") return Set::dijet;
  throw InputError(fmt::format("{}feature set '{}' is unknown; the feature sets are: dilepton_met, dijet{}", where,
                               name, did_you_mean(name, {"dilepton_met", "dijet"})));
}

std::vector<FeatureDef> defs_of(Set s) {
  if (s == Set::dilepton_met) return {kDilepton.begin(), kDilepton.end()};
  return {kDijet.begin(), kDijet.end()};
}


// ---------------------------------------------------------------- extraction

struct Lepton {
  double pt, eta, phi;
  int charge, flavour;  // 0 electron, 1 muon
};

class Extractor {
 public:
  Extractor(const dist::Communicator& comm, const ExtractConfig& cfg, const io::EventFileReader& reader, Set set)
      : comm_(comm), cfg_(cfg), reader_(reader), set_(set), defs_(defs_of(set)) {}

  ExtractResult run();

 private:
  // Per work item: reads the block and evaluates each event.
  struct Tally {
    std::vector<std::vector<uint64_t>> raw;     // [sample][cut]
    std::vector<std::vector<ExactSum>> weighted;
  };
  void setup();
  // Evaluates event i of the block: fills full_ (all features of the set) and
  // returns the number of cuts passed (cuts_.size() = selected). Throws InputError
  // for non-finite inputs unless --on-nonfinite drop.
  std::size_t evaluate(const physics::EventBlock& b, std::size_t sample, std::size_t i);
  std::size_t evaluate_dilepton(const physics::EventBlock& b, std::size_t sample, std::size_t i);
  std::size_t evaluate_dijet(const physics::EventBlock& b, std::size_t sample, std::size_t i);
  // Returns the name of the first non-finite input of event i, or nullptr.
  const char* nonfinite_input(const physics::EventBlock& b, std::size_t i) const;
  void mean_pass();
  void write_pass(io::FeatureFileWriter& writer, Tally& tally, io::FeatureStatistics& stats);

  const dist::Communicator& comm_;
  const ExtractConfig& cfg_;
  const io::EventFileReader& reader_;
  Set set_;
  std::vector<FeatureDef> defs_;
  std::vector<std::size_t> selected_;  // indices into defs_ of the written features
  bool uses_jets_ = false;             // a selected feature is a leading-jet one (dilepton_met)
  bool wants_mt2_ = true;              // mT2 is by far the costliest feature: only when written
  std::vector<std::string> cuts_;
  std::size_t cut_finite_ = 0, cut_padding_ = 0;  // 0: no such cut
  std::vector<std::string> columns_;
  std::vector<WorkItem> items_;
  std::vector<double> scale_;       // per sample: luminosity scale
  std::vector<uint64_t> stream_;    // per sample: sample_stream
  std::array<double, kJetFeatures> jet_fill_{};
  bool jets_present_ = true;        // of the last evaluated event: at least two jets
  std::vector<double> full_;
  std::vector<physics::MetObject> objects_;
  std::vector<Lepton> leptons_;
  uint64_t total_events_ = 0;
};

void Extractor::setup() {
  const auto& samples = reader_.samples();
  const std::string file = reader_.path().string();
  const std::string set_name = set_ == Set::dilepton_met ? "dilepton_met" : "dijet";
  // What the set needs from the file.
  std::vector<std::string> need_columns = {"event_number", "weight_mc"}, need_collections;
  if (set_ == Set::dilepton_met) {
    need_columns.insert(need_columns.end(), {"met", "met_phi", "met_sumet"});
    need_collections = {"electrons", "muons", "jets"};
  } else {
    need_collections = {"large_jets"};
  }
  for (const auto& s : samples) {
    for (const auto& c : need_columns)
      if (!s.schema.find_column(c))
        throw InputError(fmt::format("{}: feature set {} needs the column '{}', which sample '{}' does not have "
                                     "(the file's channel is '{}')",
                                     file, set_name, c, s.info.name, reader_.channel()));
    for (const auto& c : need_collections)
      if (!s.schema.find_collection(c))
        throw InputError(fmt::format("{}: feature set {} needs the collection '{}', which sample '{}' does not have "
                                     "(the file's channel is '{}'; choose --features to match it)",
                                     file, set_name, c, s.info.name, reader_.channel()));
  }
  columns_ = need_columns;
  columns_.insert(columns_.end(), need_collections.begin(), need_collections.end());

  // Features.
  std::vector<std::string> names;
  for (const auto& d : defs_) names.push_back(d.name);
  if (cfg_.select.empty()) {
    for (std::size_t f = 0; f < defs_.size(); ++f) {
      if (set_ == Set::dilepton_met && cfg_.padding == PaddingPolicy::drop_feature && is_jet_feature(f)) continue;
      selected_.push_back(f);
    }
  } else {
    for (const auto& s : cfg_.select) {
      const auto it = std::find(names.begin(), names.end(), s);
      if (it == names.end())
        throw InputError(fmt::format("--select: feature set {} has no feature '{}'{}; the features are: {}", set_name,
                                     s, did_you_mean(s, names), join(names, ", ")));
      const std::size_t f = std::size_t(it - names.begin());
      if (std::find(selected_.begin(), selected_.end(), f) != selected_.end())
        throw InputError(fmt::format("--select: '{}' is listed twice", s));
      if (set_ == Set::dilepton_met && cfg_.padding == PaddingPolicy::drop_feature && is_jet_feature(f)) {
        log::info("extract: --padding drop-feature leaves out {}", s);
        continue;
      }
      selected_.push_back(f);
    }
    if (selected_.empty()) throw InputError("--select: no feature left to write (see --padding drop-feature)");
  }
  if (set_ == Set::dilepton_met) {
    for (auto f : selected_) uses_jets_ = uses_jets_ || is_jet_feature(f);
    wants_mt2_ = std::find(selected_.begin(), selected_.end(), std::size_t(mt2_)) != selected_.end();
  }

  // Cuts.
  cuts_ = {"all"};
  if (cfg_.drop_nonfinite) cut_finite_ = cuts_.size(), cuts_.push_back("finite");
  if (set_ == Set::dilepton_met) {
    cuts_.push_back("two leptons");
    cuts_.push_back("flavour");
    cuts_.push_back("met");
    if (cfg_.max_bjets >= 0) cuts_.push_back("bjet veto");
    if (uses_jets_ && cfg_.padding == PaddingPolicy::drop_event) cut_padding_ = cuts_.size(), cuts_.push_back("padding");
  } else {
    cuts_.push_back("two large jets");
    cuts_.push_back("mjj");
  }

  // Samples.
  const double lumi_ipb = reader_.luminosity_ifb() * units::invfb;
  std::vector<uint64_t> sizes;
  for (const auto& s : samples) {
    scale_.push_back(s.info.luminosity_scale(lumi_ipb));
    stream_.push_back(physics::sample_stream(s.info));
    sizes.push_back(s.info.n_events);
    total_events_ += s.info.n_events;
  }
  items_ = plan_work(sizes, cfg_.block_events);
  full_.assign(defs_.size(), 0.0);
  for (std::size_t j = 0; j < kJetFeatures; ++j)
    jet_fill_[j] = is_jet_pt(kFirstJetFeature + j) ? 0.0 : cfg_.sentinel;
}

const char* Extractor::nonfinite_input(const physics::EventBlock& b, std::size_t i) const {
  for (const char* c : {"weight_mc", "met", "met_phi", "met_sumet"}) {
    if (set_ == Set::dijet && std::string_view(c) != "weight_mc") continue;
    if (!std::isfinite(b.values<float>(c)[i])) return c;
  }
  static const std::vector<std::pair<const char*, std::vector<const char*>>> dilepton = {
      {"electrons", {"pt", "eta", "phi"}}, {"muons", {"pt", "eta", "phi"}}, {"jets", {"pt", "eta", "phi", "m"}}};
  static const std::vector<std::pair<const char*, std::vector<const char*>>> dijet = {
      {"large_jets", {"pt", "eta", "phi", "m", "tau21"}}};
  static thread_local std::string name;
  for (const auto& [coll, members] : set_ == Set::dilepton_met ? dilepton : dijet) {
    const auto& c = b.collection(coll);
    for (const char* m : members) {
      const auto& v = c.member(m).as<float>();
      for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k)
        if (!std::isfinite(v[k])) {
          name = fmt::format("{}/{}", coll, m);
          return name.c_str();
        }
    }
  }
  return nullptr;
}

std::size_t Extractor::evaluate(const physics::EventBlock& b, std::size_t sample, std::size_t i) {
  std::size_t passed = 1;  // all
  if (const char* bad = nonfinite_input(b, i)) {
    if (!cfg_.drop_nonfinite)
      throw InputError(fmt::format("{}: sample '{}', event {}: '{}' is not finite; pass --on-nonfinite drop to drop "
                                   "such events (counted in the cutflow as failing 'finite')",
                                   reader_.path().string(), reader_.samples()[sample].info.name,
                                   b.values<uint64_t>("event_number")[i], bad));
    return passed;
  }
  if (cut_finite_) ++passed;
  passed += set_ == Set::dilepton_met ? evaluate_dilepton(b, sample, i) : evaluate_dijet(b, sample, i);
  if (passed == cuts_.size())
    for (auto f : selected_)
      if (!std::isfinite(full_[f]))
        throw InputError(fmt::format("{}: sample '{}', event {}: feature '{}' is not finite ({})",
                                     reader_.path().string(), reader_.samples()[sample].info.name,
                                     b.values<uint64_t>("event_number")[i], defs_[f].name, full_[f]));
  return passed;
}

// Cuts after "all"/"finite" passed by event i; fills full_ when it passes them all.
std::size_t Extractor::evaluate_dilepton(const physics::EventBlock& b, std::size_t, std::size_t i) {
  using namespace physics;
  leptons_.clear();
  objects_.clear();
  const auto& ele = b.collection("electrons");
  const auto& mu = b.collection("muons");
  const auto& jets = b.collection("jets");
  std::size_t passed = 0;
  for (int flavour = 0; flavour < 2; ++flavour) {
    const auto& c = flavour == 0 ? ele : mu;
    const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(),
               &phi = c.member("phi").as<float>();
    const auto& q = c.member("charge").as<int8_t>();
    for (uint64_t k = c.offsets[i]; k < c.offsets[i + 1]; ++k) {
      objects_.push_back({pt[k], eta[k], phi[k], flavour == 0 ? MetObjectKind::electron : MetObjectKind::muon});
      if (double(pt[k]) > cfg_.lepton_pt_min && std::fabs(double(eta[k])) < cfg_.lepton_eta_max)
        leptons_.push_back({pt[k], eta[k], phi[k], q[k], flavour});
    }
  }
  if (leptons_.size() != 2) return passed;
  ++passed;  // two leptons
  std::sort(leptons_.begin(), leptons_.end(), [](const Lepton& a, const Lepton& c) { return a.pt > c.pt; });
  const Lepton &l1 = leptons_[0], &l2 = leptons_[1];
  if (cfg_.require_sfos && !(l1.flavour == l2.flavour && l1.charge * l2.charge < 0)) return passed;
  ++passed;  // flavour
  const double met = b.values<float>("met")[i], met_phi = b.values<float>("met_phi")[i];
  if (!(met > cfg_.met_min)) return passed;
  ++passed;  // met
  const auto &jpt = jets.member("pt").as<float>(), &jeta = jets.member("eta").as<float>(),
             &jphi = jets.member("phi").as<float>();
  const auto& jb = jets.member("btag").as<int8_t>();
  const uint64_t j0 = jets.offsets[i], j1 = jets.offsets[i + 1];
  int64_t nb = 0;
  double sum_pt = 0;
  for (uint64_t k = j0; k < j1; ++k) {
    nb += jb[k] != 0;
    sum_pt += double(jpt[k]);
    objects_.push_back({jpt[k], jeta[k], jphi[k], MetObjectKind::jet});
  }
  if (cfg_.max_bjets >= 0) {
    if (nb > cfg_.max_bjets) return passed;
    ++passed;  // bjet veto
  }
  jets_present_ = j1 - j0 >= 2;
  if (cut_padding_) {
    if (!jets_present_) return passed;
    ++passed;  // padding
  }

  auto& x = full_;
  x[lep1_pt] = l1.pt, x[lep1_eta] = l1.eta, x[lep1_phi] = l1.phi;
  x[lep2_pt] = l2.pt, x[lep2_eta] = l2.eta, x[lep2_phi] = l2.phi;
  const FourVector v1 = FourVector::from_pt_eta_phi_m(l1.pt, l1.eta, l1.phi, 0.0),
                   v2 = FourVector::from_pt_eta_phi_m(l2.pt, l2.eta, l2.phi, 0.0);
  const FourVector ll = v1 + v2;
  const double m_ll = invariant_mass<double>(l1.pt, l1.eta, l1.phi, 0.0, l2.pt, l2.eta, l2.phi, 0.0);
  const double pt_ll = pair_pt<double>(l1.pt, l1.phi, l2.pt, l2.phi);
  const double phi_ll = ll.phi();
  x[mll] = m_ll;
  x[ptll] = pt_ll;
  x[met_] = met, x[met_phi_] = met_phi;
  const double soft = soft_sumet(double(b.values<float>("met_sumet")[i]), objects_);
  x[met_sig] = met_significance_polar(objects_, met, met_phi, soft);
  x[mt_llmet] = system_transverse_mass<double>(m_ll, pt_ll, phi_ll, met, met_phi);
  const double mx = met * std::cos(met_phi), my = met * std::sin(met_phi);
  x[mt2_] = wants_mt2_ ? mt2(0.0, v1.px, v1.py, 0.0, v2.px, v2.py, mx, my) : 0.0;
  x[dphi_ll] = abs_delta_phi<double>(l1.phi, l2.phi);
  x[dphi_ll_met] = abs_delta_phi<double>(phi_ll, met_phi);
  x[dr_ll] = delta_r(l1.eta, l1.phi, l2.eta, l2.phi);
  x[n_jets] = double(j1 - j0);
  x[n_bjets] = double(nb);
  x[ht_] = sum_pt;
  for (uint64_t j = 0; j < 2; ++j) {
    const std::size_t f = kFirstJetFeature + 3 * j;
    if (j0 + j < j1) {
      x[f] = jpt[j0 + j], x[f + 1] = jeta[j0 + j], x[f + 2] = jphi[j0 + j];
    } else {
      for (std::size_t q = 0; q < 3; ++q) x[f + q] = jet_fill_[f + q - kFirstJetFeature];
    }
  }
  x[channel_flag] = l1.flavour != l2.flavour ? 2.0 : double(l1.flavour);
  return passed;
}

std::size_t Extractor::evaluate_dijet(const physics::EventBlock& b, std::size_t, std::size_t i) {
  using namespace physics;
  const auto& c = b.collection("large_jets");
  const uint64_t k0 = c.offsets[i], k1 = c.offsets[i + 1];
  std::size_t passed = 0;
  if (k1 - k0 < 2) return passed;
  ++passed;  // two large jets
  const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(), &phi = c.member("phi").as<float>(),
             &m = c.member("m").as<float>(), &tau = c.member("tau21").as<float>();
  const double mjj = invariant_mass<double>(pt[k0], eta[k0], phi[k0], m[k0], pt[k0 + 1], eta[k0 + 1], phi[k0 + 1],
                                            m[k0 + 1]);
  if (!(mjj >= cfg_.mjj_min)) return passed;
  ++passed;  // mjj
  const uint64_t heavy = m[k0] >= m[k0 + 1] ? k0 : k0 + 1, light = heavy == k0 ? k0 + 1 : k0;
  full_[0] = mjj;
  full_[1] = m[heavy], full_[2] = m[light];
  full_[3] = tau[heavy], full_[4] = tau[light];
  full_[5] = std::fabs(double(eta[k0]) - double(eta[k0 + 1]));
  return passed;
}

// First pass of --padding mean: means of the present leading-jet values over the
// selected training events of all ranks (merged in item order).
void Extractor::mean_pass() {
  const std::size_t rounds = work_rounds(items_.size(), comm_.size());
  OrderedStatsMerger merger(comm_, kJetFeatures);
  physics::EventBlock block;
  Progress progress("extract: jet means", total_events_, "events", comm_.is_root());
  uint64_t done = 0;
  for (std::size_t k = 0; k < rounds; ++k) {
    RunningStats mine(kJetFeatures);
    dist::collectively(comm_, [&] {
      const WorkItem* w = item_of(items_, k, comm_.rank(), comm_.size());
      if (!w) return;
      reader_.read(w->sample, w->first, w->first + w->count, block, columns_);
      const auto& info = reader_.samples()[w->sample].info;
      const auto& ev = block.values<uint64_t>("event_number");
      const auto& jets = block.collection("jets");
      for (std::size_t i = 0; i < block.size(); ++i) {
        if (evaluate(block, w->sample, i) != cuts_.size()) continue;
        if (info.role == physics::Role::data ||
            split_of(ev[i], stream_[w->sample], cfg_.seed, cfg_.split) != io::Split::train)
          continue;
        const uint64_t n = jets.offsets[i + 1] - jets.offsets[i];
        for (std::size_t j = 0; j < kJetFeatures; ++j)
          if (j / 3 < n) mine.add(j, full_[kFirstJetFeature + j]);
      }
    });
    merger.merge_round(mine);
    done += round_events(items_, k, comm_.size());
    progress.update(done);
  }
  progress.finish();
  const RunningStats& total = merger.total();
  for (std::size_t j = 0; j < kJetFeatures; ++j) jet_fill_[j] = total.count[j] > 0 ? total.mean[j] : 0.0;
}

void Extractor::write_pass(io::FeatureFileWriter& writer, Tally& tally, io::FeatureStatistics& stats) {
  const std::size_t S = reader_.samples().size(), C = cuts_.size(), F = selected_.size();
  const std::size_t rounds = work_rounds(items_.size(), comm_.size());
  tally.raw.assign(S, std::vector<uint64_t>(C, 0));
  tally.weighted.assign(S, std::vector<ExactSum>(C));
  OrderedStatsMerger merger(comm_, F);
  physics::EventBlock block;
  io::FeatureBlock out;
  out.n_features = F;
  out.reserve(std::size_t(cfg_.block_events));
  const std::size_t mass_feature = set_ == Set::dilepton_met ? std::size_t(mll) : 0;
  Progress progress("extract", total_events_, "events", comm_.is_root());
  uint64_t done = 0;
  for (std::size_t k = 0; k < rounds; ++k) {
    out.clear();
    RunningStats mine(F);
    dist::collectively(comm_, [&] {
      const WorkItem* w = item_of(items_, k, comm_.rank(), comm_.size());
      if (!w) return;
      reader_.read(w->sample, w->first, w->first + w->count, block, columns_);
      const auto& info = reader_.samples()[w->sample].info;
      const auto& ev = block.values<uint64_t>("event_number");
      const auto& wmc = block.values<float>("weight_mc");
      const bool is_data = info.role == physics::Role::data;
      const int32_t label = info.role == physics::Role::signal ? 1 : 0;
      auto& raw = tally.raw[w->sample];
      auto& weighted = tally.weighted[w->sample];
      for (std::size_t i = 0; i < block.size(); ++i) {
        const std::size_t passed = evaluate(block, w->sample, i);
        const double weight = is_data ? 1.0 : double(wmc[i]) * scale_[w->sample];
        for (std::size_t c = 0; c < passed; ++c) ++raw[c], weighted[c].add(weight);
        if (passed != C) continue;
        const io::Split split = split_of(ev[i], stream_[w->sample], cfg_.seed, cfg_.split);
        const bool train = split == io::Split::train && !is_data;
        for (std::size_t f = 0; f < F; ++f) {
          const float v = float(full_[selected_[f]]);
          out.features.push_back(v);
          if (train) mine.add(f, double(v));
        }
        out.weight.push_back(weight);
        out.label.push_back(label);
        out.sample_index.push_back(int32_t(w->sample));
        out.event_number.push_back(ev[i]);
        out.mass.push_back(float(full_[mass_feature]));
        out.split.push_back(int8_t(split));
      }
    });
    merger.merge_round(mine);
    writer.append_round(out);
    done += round_events(items_, k, comm_.size());
    progress.update(done);
  }
  progress.finish();
  stats = merger.total().finish();
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\', out += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) out += fmt::format("\\u{:04x}", int(ch));
    else out += ch;
  }
  return out + "\"";
}

void write_cutflow_json(const std::filesystem::path& path, const io::Cutflow& cf,
                        const std::vector<io::SampleLayout>& samples, const std::string& feature_file) {
  std::string text = "{\n  \"feature_file\": " + json_string(feature_file) + ",\n  \"cuts\": [";
  for (std::size_t c = 0; c < cf.cuts.size(); ++c) text += (c ? ", " : "") + json_string(cf.cuts[c]);
  text += "],\n  \"samples\": [\n";
  for (std::size_t s = 0; s < samples.size(); ++s) {
    text += "    {\"name\": " + json_string(samples[s].info.name) + ", \"role\": " +
            json_string(std::string(physics::to_string(samples[s].info.role))) + ", \"raw\": [";
    for (std::size_t c = 0; c < cf.cuts.size(); ++c) text += fmt::format("{}{}", c ? ", " : "", cf.raw[s][c]);
    text += "], \"weighted\": [";
    for (std::size_t c = 0; c < cf.cuts.size(); ++c) text += fmt::format("{}{:.17g}", c ? ", " : "", cf.weighted[s][c]);
    text += s + 1 < samples.size() ? "]},\n" : "]}\n";
  }
  text += "  ]\n}\n";
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw Error(fmt::format("cannot write {}", tmp.string()));
  }
  std::filesystem::rename(tmp, path);
}

ExtractResult Extractor::run() {
  const auto start = std::chrono::steady_clock::now();
  setup();
  const std::string file = reader_.path().string();
  const std::string set_name = set_ == Set::dilepton_met ? "dilepton_met" : "dijet";
  ExtractResult result;
  result.feature_set = set_name;

  io::FeatureFileHeader header;
  for (auto f : selected_) {
    header.feature_names.push_back(defs_[f].name);
    header.feature_units.push_back(defs_[f].unit);
  }
  result.features = header.feature_names;
  for (const auto& s : reader_.samples()) header.samples.push_back(s.info);
  header.attributes = {
      {"description", std::string("features computed from an event file by bsmhunt extract (docs/extract.md)")},
      {"feature_set", set_name},
      {"source_file", file},
      {"source_channel", reader_.channel()},
      {"luminosity_ifb", reader_.luminosity_ifb()},
      {"cuts", join(cuts_, ",")},
      {"split_train", cfg_.split.train},
      {"split_validation", cfg_.split.validation},
      {"seed", int64_t(cfg_.seed)},
      {"on_nonfinite", std::string(cfg_.drop_nonfinite ? "drop" : "error")},
      {"bsmhunt_version", std::string(BSMHUNT_VERSION)},
  };
  if (set_ == Set::dilepton_met) {
    header.attributes.insert(header.attributes.end(),
                             {{"lepton_pt_min_GeV", cfg_.lepton_pt_min},
                              {"lepton_eta_max", cfg_.lepton_eta_max},
                              {"require", std::string(cfg_.require_sfos ? "sfos" : "any")},
                              {"met_min_GeV", cfg_.met_min},
                              {"max_bjets", cfg_.max_bjets},
                              {"padding", std::string(to_string(cfg_.padding))},
                              {"sentinel", cfg_.sentinel},
                              {"mass_feature", std::string("mll")}});
  } else {
    header.attributes.insert(header.attributes.end(),
                             {{"mjj_min_GeV", cfg_.mjj_min}, {"mass_feature", std::string("mjj")}});
  }
  log::info("extract: {} -> {}: feature set {} ({} features), {} samples, {} events, {} rank{}", file,
            cfg_.output.string(), set_name, selected_.size(), reader_.samples().size(), si_count(double(total_events_)),
            comm_.size(), comm_.size() > 1 ? "s" : "");

  if (uses_jets_ && cfg_.padding == PaddingPolicy::mean) {
    mean_pass();
    std::vector<std::string> fills;
    for (std::size_t j = 0; j < kJetFeatures; ++j)
      fills.push_back(fmt::format("{}={}", defs_[kFirstJetFeature + j].name, jet_fill_[j]));
    header.attributes.push_back({"imputed_means", join(fills, ",")});
    log::info("extract: missing jets get the training means {}", join(fills, ", "));
  }

  io::WriteOptions wopt{cfg_.overwrite};
  io::FeatureFileWriter writer(comm_, cfg_.output, wopt, header);
  Tally tally;
  io::FeatureStatistics stats;
  write_pass(writer, tally, stats);

  // Reduce the cutflow over ranks (exact sums: the same bits for any rank count).
  const std::size_t S = reader_.samples().size(), C = cuts_.size();
  std::vector<uint64_t> raw(S * C);
  std::vector<ExactSum> weighted(S * C);
  for (std::size_t s = 0; s < S; ++s)
    for (std::size_t c = 0; c < C; ++c) raw[s * C + c] = tally.raw[s][c], weighted[s * C + c] = tally.weighted[s][c];
  comm_.sum_in_place(raw);
  weighted = comm_.sum(weighted);
  io::Cutflow& cf = result.cutflow;
  cf.cuts = cuts_;
  // "padding" is listed only when drop-event removed events.
  bool padding_removed = false;
  for (std::size_t s = 0; cut_padding_ && s < S; ++s)
    padding_removed = padding_removed || raw[s * C + cut_padding_] != raw[s * C + cut_padding_ - 1];
  for (std::size_t s = 0; s < S; ++s) {
    std::vector<uint64_t> r;
    std::vector<double> w;
    for (std::size_t c = 0; c < C; ++c) {
      if (c == cut_padding_ && cut_padding_ && !padding_removed) continue;
      r.push_back(raw[s * C + c]);
      w.push_back(weighted[s * C + c].value());
    }
    cf.raw.push_back(r);
    cf.weighted.push_back(w);
    result.events_read += raw[s * C];
  }
  if (cut_padding_ && !padding_removed) cf.cuts.erase(cf.cuts.begin() + std::ptrdiff_t(cut_padding_));
  if (writer.rows() == 0)
    throw InputError(fmt::format("{}: no event passes the selection (cuts: {}); loosen the cuts", file,
                                 join(cf.cuts, ", ")));
  writer.write_statistics(stats);
  writer.write_cutflow(cf);
  result.events_written = writer.rows();
  writer.commit();
  std::vector<std::string> names;
  for (const auto& s : reader_.samples()) names.push_back(s.info.name);
  if (comm_.is_root()) {
    std::cout << format_cutflow(cf, names) << std::flush;
    write_cutflow_json(cfg_.output.string() + ".cutflow.json", cf, reader_.samples(), cfg_.output.string());
  }
  comm_.barrier();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("extract: wrote {} ({} of {} events x {} features) in {} ({} events/s)", cfg_.output.string(),
            result.events_written, result.events_read, selected_.size(), human_duration(result.seconds),
            si_count(double(result.events_read) / std::max(result.seconds, 1e-9)));
  return result;
}

}  // namespace

std::vector<std::string> feature_set_names() { return {"dilepton_met", "dijet"}; }

std::vector<std::string> feature_set_features(const std::string& feature_set) {
  std::vector<std::string> out;
  for (const auto& d : defs_of(parse_set(feature_set, ""))) out.push_back(d.name);
  return out;
}

std::string format_cutflow(const io::Cutflow& cf, const std::vector<std::string>& samples) {
  std::size_t name_width = 6;
  for (const auto& s : samples) name_width = std::max(name_width, s.size());
  std::vector<std::size_t> widths;
  for (std::size_t c = 0; c < cf.cuts.size(); ++c) {
    std::size_t w = cf.cuts[c].size();
    for (const auto& r : cf.raw) w = std::max(w, fmt::format("{}", r[c]).size());
    widths.push_back(w);
  }
  std::string out = fmt::format("cutflow (raw events):\n{:<{}}", "sample", name_width);
  for (std::size_t c = 0; c < cf.cuts.size(); ++c) out += fmt::format("  {:>{}}", cf.cuts[c], widths[c]);
  out += "\n";
  for (std::size_t s = 0; s < cf.raw.size() && s < samples.size(); ++s) {
    out += fmt::format("{:<{}}", samples[s], name_width);
    for (std::size_t c = 0; c < cf.cuts.size(); ++c) out += fmt::format("  {:>{}}", cf.raw[s][c], widths[c]);
    out += "\n";
  }
  return out;
}

ExtractResult run_extract(const dist::Communicator& comm, const ExtractConfig& cfg) {
  if (cfg.input.empty()) throw InputError("bsmhunt extract: --input FILE is required");
  if (cfg.output.empty()) throw InputError("bsmhunt extract: --output FILE is required");
  if (cfg.block_events == 0) throw InputError("--block-events must be positive");
  if (!std::isfinite(cfg.sentinel)) throw InputError("--sentinel must be a finite number");
  std::error_code ec;
  if (std::filesystem::exists(cfg.output, ec) && std::filesystem::exists(cfg.input, ec) &&
      std::filesystem::equivalent(cfg.input, cfg.output, ec))
    throw InputError(fmt::format("--output {} is the input file", cfg.output.string()));
  io::check_output_path(comm, cfg.output, cfg.overwrite);
  io::EventFileReader reader(comm, cfg.input);
  const std::string set_name = cfg.feature_set.empty() ? reader.channel() : cfg.feature_set;
  const Set set = parse_set(set_name, cfg.feature_set.empty()
                                          ? fmt::format("{} (its channel attribute; choose one with --features): ",
                                                        cfg.input.string())
                                          : std::string("--features: "));
  Extractor extractor(comm, cfg, reader, set);
  return extractor.run();
}

}  // namespace bsmhunt::pipeline
