#include "bsmhunt/nn/Onnx.hpp"

#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::nn::onnx {
namespace {

static_assert(std::endian::native == std::endian::little, "ONNX raw_data is little-endian");

// Protocol-buffer wire format: a key is (field << 3 | wire type); 0 = varint,
// 2 = length-delimited (strings, bytes, sub-messages, packed repeated numbers), 5 = 32-bit.
class Message {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(char(uint8_t(v) | 0x80));
      v >>= 7;
    }
    out_.push_back(char(uint8_t(v)));
  }
  void key(int field, int wire) { varint(uint64_t(field) << 3 | uint64_t(wire)); }
  void integer(int field, int64_t v) {  // int32/int64 fields: negative numbers as 10-byte varints
    key(field, 0);
    varint(uint64_t(v));
  }
  void bytes(int field, const std::string& b) {
    key(field, 2);
    varint(b.size());
    out_ += b;
  }
  void message(int field, const Message& m) { bytes(field, m.out_); }
  void float32(int field, float f) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &f, 4);
    out_.append(b, 4);
  }
  void packed_floats(int field, const std::vector<float>& v) {
    std::string b(v.size() * 4, '\0');
    if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
    bytes(field, b);
  }
  void packed_ints(int field, const std::vector<int64_t>& v) {
    Message m;
    for (int64_t x : v) m.varint(uint64_t(x));
    bytes(field, m.out_);
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

template <typename T>
std::string raw_of(const std::vector<T>& values) {
  std::string raw(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(raw.data(), values.data(), raw.size());
  return raw;
}

Message value_info(const std::string& name, ElementType type, const std::vector<int64_t>& dims,
                   const std::string& batch_name) {
  Message shape;  // TensorShapeProto: dim = 1 (Dimension: dim_value = 1, dim_param = 2)
  Message batch;
  batch.bytes(2, batch_name);
  shape.message(1, batch);
  for (int64_t d : dims) {
    Message dim;
    dim.integer(1, d);
    shape.message(1, dim);
  }
  Message tensor;  // TypeProto.Tensor: elem_type = 1, shape = 2
  tensor.integer(1, int64_t(type));
  tensor.message(2, shape);
  Message typeproto;  // TypeProto: tensor_type = 1
  typeproto.message(1, tensor);
  Message info;  // ValueInfoProto: name = 1, type = 2
  info.bytes(1, name);
  info.message(2, typeproto);
  return info;
}

Message attribute_message(const Attribute& a) {
  Message m;  // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, strings 9, type 20
  m.bytes(1, a.name);
  switch (a.type) {
    case Attribute::Type::f: m.float32(2, a.f); break;
    case Attribute::Type::i: m.integer(3, a.i); break;
    case Attribute::Type::s: m.bytes(4, a.s); break;
    case Attribute::Type::floats: m.packed_floats(7, a.floats); break;
    case Attribute::Type::ints: m.packed_ints(8, a.ints); break;
    case Attribute::Type::strings:
      for (const auto& s : a.strings) m.bytes(9, s);
      break;
  }
  m.integer(20, int64_t(a.type));
  return m;
}

}  // namespace

namespace {
Attribute attribute(std::string name, Attribute::Type type) {
  Attribute a;
  a.name = std::move(name);
  a.type = type;
  return a;
}
}  // namespace

Attribute Attribute::of_float(std::string name, float v) {
  auto a = attribute(std::move(name), Type::f);
  a.f = v;
  return a;
}
Attribute Attribute::of_int(std::string name, int64_t v) {
  auto a = attribute(std::move(name), Type::i);
  a.i = v;
  return a;
}
Attribute Attribute::of_string(std::string name, std::string v) {
  auto a = attribute(std::move(name), Type::s);
  a.s = std::move(v);
  return a;
}
Attribute Attribute::of_floats(std::string name, std::vector<float> v) {
  auto a = attribute(std::move(name), Type::floats);
  a.floats = std::move(v);
  return a;
}
Attribute Attribute::of_ints(std::string name, std::vector<int64_t> v) {
  auto a = attribute(std::move(name), Type::ints);
  a.ints = std::move(v);
  return a;
}
Attribute Attribute::of_strings(std::string name, std::vector<std::string> v) {
  auto a = attribute(std::move(name), Type::strings);
  a.strings = std::move(v);
  return a;
}

std::string Graph::fresh(const std::string& hint) { return fmt::format("{}_{}", hint, counter_++); }

void Graph::add_input(const std::string& name, ElementType type, const std::vector<int64_t>& dims,
                      const std::string& batch_name) {
  inputs_.push_back({name, type, dims, batch_name});
}

void Graph::add_output(const std::string& name, ElementType type, const std::vector<int64_t>& dims,
                       const std::string& batch_name) {
  outputs_.push_back({name, type, dims, batch_name});
}

namespace {
void check_size(const std::string& hint, const std::vector<int64_t>& dims, std::size_t values) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  if (n != int64_t(values))
    throw InternalError(fmt::format("ONNX constant '{}': {} values for a shape of {}", hint, values, n));
}
}  // namespace

template <typename T>
std::string Graph::add_constant(const std::string& hint, const std::vector<int64_t>& dims,
                                const std::vector<T>& values, ElementType type) {
  check_size(hint, dims, values.size());
  initializers_.push_back({fresh(hint), type, dims, raw_of(values)});
  return initializers_.back().name;
}

std::string Graph::constant(const std::string& hint, const std::vector<int64_t>& dims,
                            const std::vector<float>& values) {
  return add_constant(hint, dims, values, ElementType::float32);
}

std::string Graph::constant(const std::string& hint, const std::vector<int64_t>& dims,
                            const std::vector<double>& values) {
  return add_constant(hint, dims, values, ElementType::float64);
}

std::string Graph::constant(const std::string& hint, const std::vector<int64_t>& dims,
                            const std::vector<int64_t>& values) {
  return add_constant(hint, dims, values, ElementType::int64);
}

std::string Graph::node(const std::string& op_type, const std::vector<std::string>& inputs,
                        std::vector<Attribute> attributes, const std::string& output, const std::string& domain) {
  Node n;
  n.op_type = op_type;
  n.domain = domain;
  n.name = fresh(op_type + "_node");
  n.inputs = inputs;
  n.outputs = {output.empty() ? fresh(op_type) : output};
  n.attributes = std::move(attributes);
  if (domain == "ai.onnx.ml") uses_ml_ = true;
  nodes_.push_back(std::move(n));
  return nodes_.back().outputs[0];
}

std::string Graph::serialize() const {
  Message g;  // GraphProto: node 1, name 2, initializer 5, input 11, output 12
  for (const auto& n : nodes_) {
    Message m;  // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7
    for (const auto& in : n.inputs) m.bytes(1, in);
    for (const auto& out : n.outputs) m.bytes(2, out);
    m.bytes(3, n.name);
    m.bytes(4, n.op_type);
    for (const auto& a : n.attributes) m.message(5, attribute_message(a));
    if (!n.domain.empty()) m.bytes(7, n.domain);
    g.message(1, m);
  }
  g.bytes(2, name_);
  for (const auto& t : initializers_) {
    Message m;  // TensorProto: dims 1, data_type 2, name 8, raw_data 9
    m.packed_ints(1, t.dims);
    m.integer(2, int64_t(t.type));
    m.bytes(8, t.name);
    m.bytes(9, t.raw);
    g.message(5, m);
  }
  for (const auto& v : inputs_) g.message(11, value_info(v.name, v.type, v.dims, v.batch_name));
  for (const auto& v : outputs_) g.message(12, value_info(v.name, v.type, v.dims, v.batch_name));
  return g.str();
}

std::string serialize_model(const Graph& graph, const std::string& producer_version,
                            const std::vector<std::pair<std::string, std::string>>& metadata,
                            const std::string& doc_string) {
  Message m;  // ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6,
              // graph 7, opset_import 8, metadata_props 14
  m.integer(1, kIrVersion);
  m.bytes(2, "bsmhunt");
  m.bytes(3, producer_version);
  m.bytes(6, doc_string);
  m.bytes(7, graph.serialize());
  Message opset;  // OperatorSetIdProto: domain 1, version 2
  opset.bytes(1, "");
  opset.integer(2, kOpset);
  m.message(8, opset);
  if (graph.uses_ml_domain()) {
    Message ml;
    ml.bytes(1, "ai.onnx.ml");
    ml.integer(2, kMlOpset);
    m.message(8, ml);
  }
  for (const auto& [key, value] : metadata) {
    Message entry;  // StringStringEntryProto: key 1, value 2
    entry.bytes(1, key);
    entry.bytes(2, value);
    m.message(14, entry);
  }
  return m.str();
}

}  // namespace bsmhunt::nn::onnx
