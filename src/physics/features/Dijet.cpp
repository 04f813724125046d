// dijet: the features of the CWoLa bump hunt (analysis D): two large-radius jets,
// m_JJ (the resonant mass, never trained on), their masses, tau21 and delta eta.
#include <cmath>

#include "FeatureSets.hpp"
#include "bsmhunt/physics/Kinematics.hpp"

namespace bsmhunt::physics {

namespace {

const std::vector<FeatureDef> kFeatures = {
    {"mjj", "GeV"}, {"mj1", "GeV"}, {"mj2", "GeV"}, {"tau21_j1", ""}, {"tau21_j2", ""}, {"deta_jj", ""},
};

class Dijet final : public FeatureSet {
 public:
  explicit Dijet(const FeatureSetOptions& o) : o_(o) {}
  std::string name() const override { return "dijet"; }
  const std::vector<FeatureDef>& features() const override { return kFeatures; }
  FeatureInputs inputs() const override { return {{}, {"large_jets"}, {}, {{"large_jets", {"pt", "eta", "phi", "m", "tau21"}}}}; }
  std::vector<std::string> cuts() const override { return {"two large jets", "mjj"}; }
  std::size_t mass_feature() const override { return 0; }
  std::vector<Parameter> attributes() const override { return {{"mjj_min_GeV", o_.mjj_min}}; }
  std::size_t evaluate(const EventBlock& b, std::size_t i, std::vector<double>& x, std::vector<char>&) override {
    const auto& c = b.collection("large_jets");
    const uint64_t k0 = c.offsets[i], k1 = c.offsets[i + 1];
    std::size_t passed = 0;
    if (k1 - k0 < 2) return passed;
    ++passed;  // two large jets
    const auto &pt = c.member("pt").as<float>(), &eta = c.member("eta").as<float>(),
               &phi = c.member("phi").as<float>(), &m = c.member("m").as<float>(), &tau = c.member("tau21").as<float>();
    const double mjj = invariant_mass<double>(pt[k0], eta[k0], phi[k0], m[k0], pt[k0 + 1], eta[k0 + 1], phi[k0 + 1],
                                              m[k0 + 1]);
    if (!(mjj >= o_.mjj_min)) return passed;
    ++passed;  // mjj
    const uint64_t heavy = m[k0] >= m[k0 + 1] ? k0 : k0 + 1, light = heavy == k0 ? k0 + 1 : k0;
    x[0] = mjj;
    x[1] = m[heavy], x[2] = m[light];
    x[3] = tau[heavy], x[4] = tau[light];
    x[5] = std::fabs(double(eta[k0]) - double(eta[k0 + 1]));
    return passed;
  }

 private:
  FeatureSetOptions o_;
};

}  // namespace

std::unique_ptr<FeatureSet> make_dijet(const FeatureSetOptions& options) { return std::make_unique<Dijet>(options); }

}  // namespace bsmhunt::physics
