#pragma once
// Native units: energy/momentum/mass in GeV, angles in radians, cross sections in
// pb, luminosity in pb^-1. Multiply by a unit to convert into native units, divide
// to convert out: `m = 3.5 * TeV`, `lumi = 139 * invfb`, `sigma_in_fb = sigma / fb`.
namespace bsmhunt::units {
inline constexpr double GeV = 1.0;
inline constexpr double MeV = 1e-3;
inline constexpr double TeV = 1e3;

inline constexpr double pb = 1.0;
inline constexpr double fb = 1e-3;
inline constexpr double nb = 1e3;

inline constexpr double invpb = 1.0;
inline constexpr double invfb = 1e3;

inline constexpr double sqrt_s = 13.0 * TeV;  // LHC Run 2
}  // namespace bsmhunt::units
