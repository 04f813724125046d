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
  void clear() {
    weight_mc = 1.0;
    met = met_phi = met_sumet = met_truth = met_truth_phi = 0;
    electrons.clear(), muons.clear(), jets.clear(), large_jets.clear();
  }
};

// Which parts of RecoEvent a channel stores.
struct RecoContent {
  bool leptons = true;     // electrons, muons
  bool jets = true;        // small-R jets with b-tag
  bool large_jets = false; // large-R jets with mass and tau21
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
  CollectionColumns* large_jets_ = nullptr;
  std::vector<float>*lj_pt_{}, *lj_eta_{}, *lj_phi_{}, *lj_m_{}, *lj_tau21_{};
};

}  // namespace bsmhunt::physics
