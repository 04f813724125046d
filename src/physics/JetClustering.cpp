#include "bsmhunt/physics/JetClustering.hpp"

#include <fastjet/ClusterSequence.hh>

#include <cmath>

#include "bsmhunt/physics/FourVector.hpp"

namespace bsmhunt::physics {

std::vector<Jet> cluster_antikt(const std::vector<Particle>& particles, const JetDefinitionOptions& options) {
  // FastJet prints its banner on the first clustering unless told where not to.
  static const bool quiet = [] {
    fastjet::ClusterSequence::set_fastjet_banner_stream(nullptr);
    return true;
  }();
  (void)quiet;
  std::vector<fastjet::PseudoJet> inputs;
  inputs.reserve(particles.size());
  for (std::size_t i = 0; i < particles.size(); ++i) {
    const auto& p = particles[i];
    if (!options.cluster_muons && std::abs(p.pdg_id) == 13) continue;
    const FourVector v = FourVector::from_pt_eta_phi_m(p.pt, p.eta, p.phi, 0.0);
    fastjet::PseudoJet pj(v.px, v.py, v.pz, v.e);
    pj.set_user_index(int(i));
    inputs.push_back(pj);
  }
  const fastjet::JetDefinition definition(fastjet::antikt_algorithm, options.radius);
  const fastjet::ClusterSequence sequence(inputs, definition);
  std::vector<Jet> jets;
  for (const auto& j : fastjet::sorted_by_pt(sequence.inclusive_jets(options.pt_min))) {
    Jet out{float(j.pt()), float(j.eta()), float(wrap_phi(j.phi())), float(std::max(0.0, j.m())), 0};
    double weighted = 0, sum_pt = 0;
    for (const auto& c : j.constituents()) {
      const Particle& p = particles[std::size_t(c.user_index())];
      weighted += double(p.pt) * delta_r(p.eta, p.phi, out.eta, out.phi);
      sum_pt += p.pt;
      ++out.n_constituents;
      out.n_charged += p.charge != 0;
    }
    out.width = sum_pt > 0 ? float(weighted / sum_pt) : 0.0f;
    jets.push_back(out);
  }
  return jets;
}

}  // namespace bsmhunt::physics
