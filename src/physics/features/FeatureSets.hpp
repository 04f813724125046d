#pragma once
// Private to physics/features: the constructors of the sets, named by FeatureSets.cpp.
#include "bsmhunt/physics/features/FeatureSet.hpp"

namespace bsmhunt::physics {

std::unique_ptr<FeatureSet> make_dilepton_met(const FeatureSetOptions& options);
std::unique_ptr<FeatureSet> make_dijet(const FeatureSetOptions& options);
std::unique_ptr<FeatureSet> make_monojet(const FeatureSetOptions& options);
std::unique_ptr<FeatureSet> make_rmm(const FeatureSetOptions& options);
std::unique_ptr<FeatureSet> make_trilepton(const FeatureSetOptions& options);

}  // namespace bsmhunt::physics
