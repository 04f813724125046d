#pragma once
// A small ONNX graph builder and its protobuf serialisation (onnx.proto3, IR
// version 8, opset 17 and ai.onnx.ml 3): enough to write bsmhunt's trained models
// as ONNX files that ONNX Runtime evaluates inside an experiment's software. Only
// the messages and fields ONNX models need are written; no protobuf library.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bsmhunt::nn::onnx {

inline constexpr int64_t kIrVersion = 8;
inline constexpr int64_t kOpset = 17;    // the default domain ("ai.onnx")
inline constexpr int64_t kMlOpset = 3;   // "ai.onnx.ml" (tree ensembles)

enum class ElementType : int32_t { float32 = 1, int64 = 7, float64 = 11 };

// One attribute of a node; the constructors pick the ONNX attribute type.
struct Attribute {
  enum class Type : int32_t { f = 1, i = 2, s = 3, floats = 6, ints = 7, strings = 8 };
  std::string name;
  Type type = Type::i;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  static Attribute of_float(std::string name, float value);
  static Attribute of_int(std::string name, int64_t value);
  static Attribute of_string(std::string name, std::string value);
  static Attribute of_floats(std::string name, std::vector<float> values);
  static Attribute of_ints(std::string name, std::vector<int64_t> values);
  static Attribute of_strings(std::string name, std::vector<std::string> values);
};

// A graph under construction. Tensor names are unique: every helper returns the name
// of the tensor it made, so a model is written as a chain of calls.
class Graph {
 public:
  explicit Graph(std::string name) : name_(std::move(name)) {}

  // A graph input / output [batch, dims...]: the first dimension is symbolic (`batch_name`).
  void add_input(const std::string& name, ElementType type, const std::vector<int64_t>& dims,
                 const std::string& batch_name = "N");
  void add_output(const std::string& name, ElementType type, const std::vector<int64_t>& dims,
                  const std::string& batch_name = "N");

  // Constant tensors (stored as raw little-endian data). `hint` becomes part of the name.
  std::string constant(const std::string& hint, const std::vector<int64_t>& dims, const std::vector<float>& values);
  std::string constant(const std::string& hint, const std::vector<int64_t>& dims, const std::vector<double>& values);
  std::string constant(const std::string& hint, const std::vector<int64_t>& dims, const std::vector<int64_t>& values);

  // A node of `op_type` with the given inputs; returns its (only) output. `output`
  // names it (a graph output, say); empty = a fresh name from `op_type`.
  std::string node(const std::string& op_type, const std::vector<std::string>& inputs,
                   std::vector<Attribute> attributes = {}, const std::string& output = "",
                   const std::string& domain = "");

  bool uses_ml_domain() const { return uses_ml_; }
  // GraphProto bytes.
  std::string serialize() const;

 private:
  struct Node {
    std::string op_type, domain, name;
    std::vector<std::string> inputs, outputs;
    std::vector<Attribute> attributes;
  };
  struct Initializer {
    std::string name;
    ElementType type;
    std::vector<int64_t> dims;
    std::string raw;
  };
  struct ValueInfo {
    std::string name;
    ElementType type;
    std::vector<int64_t> dims;
    std::string batch_name;
  };
  std::string fresh(const std::string& hint);
  template <typename T>
  std::string add_constant(const std::string& hint, const std::vector<int64_t>& dims, const std::vector<T>& values,
                           ElementType type);
  std::string name_;
  std::vector<Node> nodes_;
  std::vector<Initializer> initializers_;
  std::vector<ValueInfo> inputs_, outputs_;
  std::size_t counter_ = 0;
  bool uses_ml_ = false;
};

// ModelProto bytes: the graph with the opsets it needs, the producer, and metadata
// (key/value strings ONNX Runtime exposes as custom metadata).
std::string serialize_model(const Graph& graph, const std::string& producer_version,
                            const std::vector<std::pair<std::string, std::string>>& metadata,
                            const std::string& doc_string);

}  // namespace bsmhunt::nn::onnx
