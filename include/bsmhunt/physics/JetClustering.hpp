#pragma once
// Jets from particles: anti-kT (Cacciari, Salam, Soyez 2008) through FastJet, with
// the shapes the mono-jet study uses (width, constituent counts).
#include <vector>

#include "bsmhunt/physics/generator/RecoEvent.hpp"

namespace bsmhunt::physics {

struct JetDefinitionOptions {
  double radius = 0.4;
  double pt_min = 20.0;  // GeV: jets kept
  // Calorimeter jets: muons (minimum ionising) leave the calorimeter and are not
  // clustered, as in ATLAS and CMS jets.
  bool cluster_muons = false;
};

// pT-ordered anti-kT jets of the particles (treated as massless), each with its mass,
// width = sum_i pT_i DeltaR(i, jet) / sum_i pT_i over its constituents, and the
// numbers of constituents and of charged constituents. btag is 0. Muons are left out
// unless options.cluster_muons.
std::vector<Jet> cluster_antikt(const std::vector<Particle>& particles, const JetDefinitionOptions& options = {});

}  // namespace bsmhunt::physics
