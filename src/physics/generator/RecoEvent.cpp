#include "bsmhunt/physics/generator/RecoEvent.hpp"

namespace bsmhunt::physics {

EventSchema reco_event_schema(RecoContent content) {
  using T = ColumnType;
  EventSchema s;
  s.columns = {
      {"event_number", T::u64, "", "event number, unique within the sample"},
      {"weight_mc", T::f32, "", "generator weight (may be negative for NLO-like samples)"},
      {"met", T::f32, "GeV", "reconstructed missing transverse momentum"},
      {"met_phi", T::f32, "rad", "azimuth of the missing transverse momentum"},
      {"met_sumet", T::f32, "GeV", "scalar sum of transverse energy (visible objects plus soft term)"},
      {"met_truth", T::f32, "GeV", "generator-level invisible transverse momentum (neutrinos, dark matter)"},
      {"met_truth_phi", T::f32, "rad", "azimuth of the generator-level invisible momentum"},
  };
  auto lepton = [](const char* name, const char* what) {
    return CollectionSpec{name,
                          what,
                          {{"pt", T::f32, "GeV", "transverse momentum"},
                           {"eta", T::f32, "", "pseudorapidity"},
                           {"phi", T::f32, "rad", "azimuth"},
                           {"charge", T::i8, "e", "electric charge, +1 or -1"}}};
  };
  if (content.leptons) {
    s.collections.push_back(lepton("electrons", "reconstructed signal electrons, pT-ordered"));
    s.collections.push_back(lepton("muons", "reconstructed signal muons, pT-ordered"));
  }
  if (content.jets) {
    CollectionSpec jets{"jets",
                        "anti-kt R=0.4 jets, pT-ordered",
                        {{"pt", T::f32, "GeV", "transverse momentum"},
                         {"eta", T::f32, "", "pseudorapidity"},
                         {"phi", T::f32, "rad", "azimuth"},
                         {"m", T::f32, "GeV", "jet mass"},
                         {"btag", T::i8, "", "1 if b-tagged (77% working point), else 0"}}};
    if (content.jet_shapes) {
      jets.members.push_back({"width", T::f32, "", "pT-weighted mean Delta R of the constituents to the jet axis"});
      jets.members.push_back({"n_constituents", T::i32, "", "number of constituent particles"});
      jets.members.push_back({"n_charged", T::i32, "", "number of charged constituent particles"});
    }
    s.collections.push_back(jets);
  }
  if (content.particles)
    s.collections.push_back({"particles",
                             "stable visible final-state particles (generator level; neutrinos are not stored)",
                             {{"pt", T::f32, "GeV", "transverse momentum"},
                              {"eta", T::f32, "", "pseudorapidity"},
                              {"phi", T::f32, "rad", "azimuth"},
                              {"charge", T::i8, "e", "electric charge"},
                              {"pdg_id", T::i32, "", "PDG Monte Carlo particle number"},
                              {"em", T::i8, "", "1 if it deposits in the electromagnetic calorimeter (e, gamma)"}}});
  if (content.large_jets)
    s.collections.push_back({"large_jets",
                             "anti-kt R=1.0 jets, pT-ordered",
                             {{"pt", T::f32, "GeV", "transverse momentum"},
                              {"eta", T::f32, "", "pseudorapidity"},
                              {"phi", T::f32, "rad", "azimuth"},
                              {"m", T::f32, "GeV", "jet mass"},
                              {"tau21", T::f32, "", "N-subjettiness ratio tau2/tau1"}}});
  return s;
}

RecoEventAppender::RecoEventAppender(EventBlock& b)
    : event_number_(&b.values<uint64_t>("event_number")),
      weight_mc_(&b.values<float>("weight_mc")),
      met_(&b.values<float>("met")),
      met_phi_(&b.values<float>("met_phi")),
      met_sumet_(&b.values<float>("met_sumet")),
      met_truth_(&b.values<float>("met_truth")),
      met_truth_phi_(&b.values<float>("met_truth_phi")) {
  auto bind_leptons = [&](const char* name, LeptonColumns& c) {
    if (!b.has_collection(name)) return;
    c.coll = &b.collection(name);
    c.pt = &c.coll->member("pt").as<float>();
    c.eta = &c.coll->member("eta").as<float>();
    c.phi = &c.coll->member("phi").as<float>();
    c.charge = &c.coll->member("charge").as<int8_t>();
  };
  bind_leptons("electrons", electrons_);
  bind_leptons("muons", muons_);
  if (b.has_collection("jets")) {
    jets_ = &b.collection("jets");
    jet_pt_ = &jets_->member("pt").as<float>();
    jet_eta_ = &jets_->member("eta").as<float>();
    jet_phi_ = &jets_->member("phi").as<float>();
    jet_m_ = &jets_->member("m").as<float>();
    jet_btag_ = &jets_->member("btag").as<int8_t>();
    if (jets_->has_member("width")) {
      jet_width_ = &jets_->member("width").as<float>();
      jet_n_constituents_ = &jets_->member("n_constituents").as<int32_t>();
      jet_n_charged_ = &jets_->member("n_charged").as<int32_t>();
    }
  }
  if (b.has_collection("particles")) {
    particles_ = &b.collection("particles");
    p_pt_ = &particles_->member("pt").as<float>();
    p_eta_ = &particles_->member("eta").as<float>();
    p_phi_ = &particles_->member("phi").as<float>();
    p_charge_ = &particles_->member("charge").as<int8_t>();
    p_pdg_ = &particles_->member("pdg_id").as<int32_t>();
    p_em_ = &particles_->member("em").as<int8_t>();
  }
  if (b.has_collection("large_jets")) {
    large_jets_ = &b.collection("large_jets");
    lj_pt_ = &large_jets_->member("pt").as<float>();
    lj_eta_ = &large_jets_->member("eta").as<float>();
    lj_phi_ = &large_jets_->member("phi").as<float>();
    lj_m_ = &large_jets_->member("m").as<float>();
    lj_tau21_ = &large_jets_->member("tau21").as<float>();
  }
}

void RecoEventAppender::append(const RecoEvent& e, uint64_t event_number) {
  event_number_->push_back(event_number);
  weight_mc_->push_back(float(e.weight_mc));
  met_->push_back(e.met);
  met_phi_->push_back(e.met_phi);
  met_sumet_->push_back(e.met_sumet);
  met_truth_->push_back(e.met_truth);
  met_truth_phi_->push_back(e.met_truth_phi);
  auto put_leptons = [](LeptonColumns& c, const std::vector<Lepton>& leptons) {
    if (!c.coll) return;
    for (const auto& l : leptons) {
      c.pt->push_back(l.pt), c.eta->push_back(l.eta), c.phi->push_back(l.phi), c.charge->push_back(l.charge);
    }
    c.coll->offsets.push_back(c.pt->size());
  };
  put_leptons(electrons_, e.electrons);
  put_leptons(muons_, e.muons);
  if (jets_) {
    for (const auto& j : e.jets) {
      jet_pt_->push_back(j.pt), jet_eta_->push_back(j.eta), jet_phi_->push_back(j.phi), jet_m_->push_back(j.m);
      jet_btag_->push_back(j.btag);
      if (jet_width_)
        jet_width_->push_back(j.width), jet_n_constituents_->push_back(j.n_constituents),
            jet_n_charged_->push_back(j.n_charged);
    }
    jets_->offsets.push_back(jet_pt_->size());
  }
  if (particles_) {
    for (const auto& p : e.particles) {
      p_pt_->push_back(p.pt), p_eta_->push_back(p.eta), p_phi_->push_back(p.phi);
      p_charge_->push_back(p.charge), p_pdg_->push_back(p.pdg_id), p_em_->push_back(p.em);
    }
    particles_->offsets.push_back(p_pt_->size());
  }
  if (large_jets_) {
    for (const auto& j : e.large_jets) {
      lj_pt_->push_back(j.pt), lj_eta_->push_back(j.eta), lj_phi_->push_back(j.phi), lj_m_->push_back(j.m);
      lj_tau21_->push_back(j.tau21);
    }
    large_jets_->offsets.push_back(lj_pt_->size());
  }
}

}  // namespace bsmhunt::physics
