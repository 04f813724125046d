#pragma once
// Scalar functions shared bit for bit by the CPU backend and the CUDA kernels
// (compiled as __host__ __device__ by nvcc, plain inline functions otherwise).
#include <cmath>
#include <cstdint>

#include "bsmhunt/nn/Backend.hpp"

#if defined(__CUDACC__)
#define BSMHUNT_HOST_DEVICE __host__ __device__
#else
#define BSMHUNT_HOST_DEVICE
#endif

namespace bsmhunt::nn {

// SplitMix64 finaliser of (key, element): a counter-based stream for dropout masks.
BSMHUNT_HOST_DEVICE inline uint64_t dropout_hash(uint64_t key, uint64_t element) {
  uint64_t z = key + (element + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform in [0, 1) with 24 bits: exact in float.
BSMHUNT_HOST_DEVICE inline float dropout_uniform(uint64_t key, uint64_t element) {
  return float(dropout_hash(key, element) >> 40) * 0x1p-24f;
}

// Derivative of the activation from its output y.
BSMHUNT_HOST_DEVICE inline float activation_derivative(float y, int act, float slope) {
  switch (act) {
    case int(Activation::relu): return y > 0.f ? 1.f : 0.f;
    case int(Activation::leaky_relu): return y > 0.f ? 1.f : slope;  // slope > 0 keeps the sign of x
    case int(Activation::tanh): return 1.f - y * y;
    case int(Activation::sigmoid): return y * (1.f - y);
    default: return 1.f;
  }
}

// log(1 + exp(x)) without overflow.
BSMHUNT_HOST_DEVICE inline float softplus(float x) {
  return (x > 0.f ? x : 0.f) + log1pf(expf(-fabsf(x)));
}

// Binary losses of one logit z with target t; writes dl/dz to *dz.
BSMHUNT_HOST_DEVICE inline float binary_loss(int kind, float z, float t, float smoothing, float gamma, float alpha,
                                             float* dz) {
  if (kind == int(LossKind::bce_logits)) {
    const float ts = t * (1.f - smoothing) + 0.5f * smoothing;
    const float p = 1.f / (1.f + expf(-z));
    *dz = p - ts;
    return (z > 0.f ? z : 0.f) - z * ts + log1pf(expf(-fabsf(z)));
  }
  // focal: with s = 2y - 1 and p_t = sigmoid(s z): l = -a_t (1 - p_t)^g log p_t,
  // dl/dz = s a_t (1 - p_t)^g (g p_t log p_t - (1 - p_t)).
  const bool positive = t > 0.5f;
  const float s = positive ? 1.f : -1.f;
  const float zt = s * z;
  const float log_pt = -softplus(-zt);
  const float pt = expf(log_pt);
  const float q = 1.f - pt;
  const float a = alpha < 0.f ? 1.f : (positive ? alpha : 1.f - alpha);
  const float qg = gamma == 0.f ? 1.f : powf(q, gamma);
  *dz = s * a * qg * (gamma * pt * log_pt - q);
  return -a * qg * log_pt;
}

}  // namespace bsmhunt::nn
