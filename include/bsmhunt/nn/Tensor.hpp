#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "bsmhunt/nn/Backend.hpp"

namespace bsmhunt::nn {

// A row-major float matrix in the memory of one backend. It keeps its allocation
// when reshaped smaller, so per-batch buffers are allocated once per run.
class Tensor {
 public:
  Tensor() = default;
  Tensor(Backend& backend, std::size_t rows, std::size_t cols) : backend_(&backend) { reshape(rows, cols); }
  ~Tensor() { reset(); }
  Tensor(Tensor&& o) noexcept { swap(o); }
  Tensor& operator=(Tensor&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // A read-only view of memory the backend can address directly (a host buffer on a
  // backend with uses_host_memory()); the tensor does not own or free it, and the
  // memory must outlive it. Growing it by reshape() allocates its own buffer.
  static Tensor borrow(Backend& backend, const float* data, std::size_t rows, std::size_t cols) {
    Tensor t;
    t.backend_ = &backend;
    t.data_ = const_cast<float*>(data);  // never written: the view is read-only by contract
    t.rows_ = rows, t.cols_ = cols, t.capacity_ = rows * cols;
    t.owning_ = false;
    return t;
  }

  void reshape(std::size_t rows, std::size_t cols) {
    if (rows * cols > capacity_) {
      if (data_ && owning_) backend_->release(data_);
      data_ = backend_->allocate(rows * cols);
      capacity_ = rows * cols;
      owning_ = true;
    }
    rows_ = rows, cols_ = cols;
  }
  void zero() { if (size()) backend_->fill(data_, size(), 0.0f); }
  float* data() { return data_; }
  const float* data() const { return data_; }
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return rows_ * cols_; }
  Backend& backend() const { return *backend_; }

  std::vector<float> to_host() const {
    std::vector<float> h(size());
    if (size()) backend_->download(data_, h.data(), h.size());
    return h;
  }
  void from_host(std::span<const float> h) {
    reshape(h.size() / (cols_ ? cols_ : 1) , cols_ ? cols_ : 1);
    if (!h.empty()) backend_->upload(h.data(), data_, h.size());
  }

 private:
  void reset() {
    if (data_ && owning_) backend_->release(data_);
    data_ = nullptr, capacity_ = rows_ = cols_ = 0;
    owning_ = true;
  }
  void swap(Tensor& o) noexcept {
    std::swap(backend_, o.backend_), std::swap(data_, o.data_), std::swap(rows_, o.rows_);
    std::swap(cols_, o.cols_), std::swap(capacity_, o.capacity_), std::swap(owning_, o.owning_);
  }
  Backend* backend_ = nullptr;
  float* data_ = nullptr;
  std::size_t rows_ = 0, cols_ = 0, capacity_ = 0;
  bool owning_ = true;
};

// Device copy of an index list (the rows of a batch, their global positions).
class IndexBuffer {
 public:
  explicit IndexBuffer(Backend& backend) : backend_(&backend) {}
  ~IndexBuffer() { if (data_) backend_->release(data_); }
  IndexBuffer(const IndexBuffer&) = delete;
  IndexBuffer& operator=(const IndexBuffer&) = delete;
  void assign(std::span<const uint32_t> host) {
    if (host.size() > capacity_) {
      if (data_) backend_->release(data_);
      capacity_ = host.size();
      data_ = static_cast<uint32_t*>(backend_->allocate_bytes(capacity_ * sizeof(uint32_t)));
    }
    size_ = host.size();
    if (size_) backend_->to_device(host.data(), data_, size_ * sizeof(uint32_t));
  }
  const uint32_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  Backend* backend_;
  uint32_t* data_ = nullptr;
  std::size_t size_ = 0, capacity_ = 0;
};

}  // namespace bsmhunt::nn
