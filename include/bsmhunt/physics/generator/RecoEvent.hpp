#pragma once
#include <cstdint>
#include <vector>

#include "bsmhunt/physics/EventBlock.hpp"

namespace bsmhunt::physics {

// One reconstructed event as a generator channel produces it (GeV, radians).
// Channels fill what they model; the channel's schema says which collections are
// stored. Vectors are reused between events (clear() keeps capacity).
struct Lepton {
  float pt, eta, phi;
  int8_t charge;
};
struct Jet {
  float pt, eta, phi, m;
  int8_t btag;  // 1 if b-tagged
  // Shapes (stored when RecoContent::jet_shapes): pT-weighted mean Delta R of the
  // constituents, and their number (all, charged).
  float width = 0;
  int32_t n_constituents = 0, n_charged = 0;
};
// A stable visible final-state particle (particle-level channels).
struct Particle {
  float pt, eta, phi;
  int8_t charge;
  int32_t pdg_id;  // PDG Monte Carlo number: 11 e, 13 mu, 22 gamma, 211 pi, 321 K, 2212 p, 130 K_L, 2112 n
  int8_t em;       // 1 if it deposits its energy in the electromagnetic calorimeter (e, gamma)
};
struct LargeJet {
  float pt, eta, phi, m;
  float tau21;  // N-subjettiness ratio tau2/tau1: small for two-prong jets
};

struct RecoEvent {
  double weight_mc = 1.0;
  float met = 0, met_phi = 0, met_sumet = 0;   // reconstructed missing ET, its phi, scalar sum ET
  float met_truth = 0, met_truth_phi = 0;      // true invisible momentum (neutrinos, dark matter)
  std::vector<Lepton> electrons, muons;        // pT-ordered
  std::vector<Jet> jets;                        // pT-ordered small-R jets
  std::vector<LargeJet> large_jets;             // pT-ordered large-R jets
  std::vector<Particle> particles;              // stable visible particles (particle-level channels)
  void clear() {
    weight_mc = 1.0;
    met = met_phi = met_sumet = met_truth = met_truth_phi = 0;
    electrons.clear(), muons.clear(), jets.clear(), large_jets.clear(), particles.clear();
  }
};

// Which parts of RecoEvent a channel stores.
struct RecoContent {
  bool leptons = true;     // electrons, muons
  bool jets = true;        // small-R jets with b-tag
  bool large_jets = false; // large-R jets with mass and tau21
  bool jet_shapes = false; // small-R jets also carry width, n_constituents, n_charged
  bool particles = false;  // the stable visible particles (eta-phi images)
};

// Schema of the event columns for RecoEvents (names and units of docs/formats.md).
EventSchema reco_event_schema(RecoContent content);

// Appends RecoEvents to an EventBlock built from reco_event_schema(content);
// resolves column addresses once per block, not per event.
class RecoEventAppender {
 public:
  explicit RecoEventAppender(EventBlock& block);
  void append(const RecoEvent& event, uint64_t event_number);

 private:
  struct LeptonColumns {
    CollectionColumns* coll = nullptr;
    std::vector<float>*pt, *eta, *phi;
    std::vector<int8_t>* charge;
  };
  std::vector<uint64_t>* event_number_;
  std::vector<float>*weight_mc_, *met_, *met_phi_, *met_sumet_, *met_truth_, *met_truth_phi_;
  LeptonColumns electrons_, muons_;
  CollectionColumns* jets_ = nullptr;
  std::vector<float>*jet_pt_{}, *jet_eta_{}, *jet_phi_{}, *jet_m_{};
  std::vector<int8_t>* jet_btag_{};
  std::vector<float>* jet_width_{};
  std::vector<int32_t>*jet_n_constituents_{}, *jet_n_charged_{};
  CollectionColumns* particles_ = nullptr;
  std::vector<float>*p_pt_{}, *p_eta_{}, *p_phi_{};
  std::vector<int8_t>*p_charge_{}, *p_em_{};
  std::vector<int32_t>* p_pdg_{};
  CollectionColumns* large_jets_ = nullptr;
  std::vector<float>*lj_pt_{}, *lj_eta_{}, *lj_phi_{}, *lj_m_{}, *lj_tau21_{};
};

}  // namespace bsmhunt::physics
