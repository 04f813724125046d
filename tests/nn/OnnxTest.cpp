// The ONNX writer's protobuf encoding, byte by byte against hand-encoded messages
// (onnx.proto3 field numbers; wire format: key = field << 3 | type, varints LSB first).
// That ONNX Runtime evaluates exported models as predict does is tests/interop's job.
#include <gtest/gtest.h>

#include <string>

#include "bsmhunt/nn/Onnx.hpp"

using namespace bsmhunt::nn;
using onnx::Attribute;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(char(c));
  return s;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST(Onnx, ModelStartsWithIrVersionAndProducer) {
  onnx::Graph g("g");
  const std::string m = onnx::serialize_model(g, "1.0", {}, "");
  // ir_version (field 1, varint) = 8, producer_name (field 2, bytes) = "bsmhunt"
  EXPECT_EQ(m.substr(0, 11), bytes({0x08, 0x08, 0x12, 0x07}) + "bsmhunt");
  // opset_import (field 8) {domain "" (field 1), version 17 (field 2)}
  EXPECT_TRUE(contains(m, bytes({0x42, 0x04, 0x0A, 0x00, 0x10, 0x11})));
  EXPECT_FALSE(contains(m, "ai.onnx.ml"));
}

TEST(Onnx, AttributesEncodedByHand) {
  onnx::Graph g("g");
  g.node("Softmax", {"x"}, {Attribute::of_int("axis", 300)}, "y");
  const std::string graph = g.serialize();
  // AttributeProto {name "axis", i = 300 (0xAC 0x02), type INT = 2 (field 20: key 0xA0 0x01)}
  const std::string axis = bytes({0x0A, 0x04}) + "axis" + bytes({0x18, 0xAC, 0x02, 0xA0, 0x01, 0x02});
  // NodeProto field 5 holds it: key 0x2A, length 6 + 3 + 3
  EXPECT_TRUE(contains(graph, bytes({0x2A, 0x0C}) + axis));
  // inputs (field 1) and output (field 2) of the node, op_type (field 4)
  EXPECT_TRUE(contains(graph, bytes({0x0A, 0x01, 'x', 0x12, 0x01, 'y'})));
  EXPECT_TRUE(contains(graph, bytes({0x22, 0x07}) + "Softmax"));
}

TEST(Onnx, NegativeIntegersAndFloats) {
  onnx::Graph g("g");
  g.node("N", {"x"}, {Attribute::of_int("k", -1), Attribute::of_float("alpha", 0.5f),
                      Attribute::of_ints("perm", {0, 3, 1, 2})});
  const std::string graph = g.serialize();
  // int64 -1: ten-byte varint
  EXPECT_TRUE(contains(graph, bytes({0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})));
  // float 0.5 (field 2, fixed32): 0x00 0x00 0x00 0x3F little-endian, type FLOAT = 1
  EXPECT_TRUE(contains(graph, bytes({0x15, 0x00, 0x00, 0x00, 0x3F, 0xA0, 0x01, 0x01})));
  // ints, packed (field 8): length 4, then the varints; type INTS = 7
  EXPECT_TRUE(contains(graph, bytes({0x42, 0x04, 0x00, 0x03, 0x01, 0x02, 0xA0, 0x01, 0x07})));
}

TEST(Onnx, InitializersAndValueInfo) {
  onnx::Graph g("g");
  const std::string w = g.constant("w", {2}, std::vector<float>{1.0f, -2.0f});
  EXPECT_EQ(w, "w_0");
  g.add_input("x", onnx::ElementType::float32, {3});
  const std::string graph = g.serialize();
  // TensorProto {dims packed [2], data_type FLOAT, name "w_0", raw_data 1.0f -2.0f}
  const std::string tensor = bytes({0x0A, 0x01, 0x02, 0x10, 0x01, 0x42, 0x03}) + "w_0" +
                             bytes({0x4A, 0x08, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0});
  EXPECT_TRUE(contains(graph, bytes({0x2A, char(tensor.size())}) + tensor));
  // ValueInfoProto {name "x", type {tensor_type {elem_type FLOAT, shape {dim {dim_param "N"}, dim {dim_value 3}}}}}
  const std::string shape = bytes({0x0A, 0x03, 0x12, 0x01, 'N', 0x0A, 0x02, 0x08, 0x03});
  const std::string tensor_type = bytes({0x08, 0x01, 0x12, char(shape.size())}) + shape;
  const std::string type = bytes({0x0A, char(tensor_type.size())}) + tensor_type;
  const std::string info = bytes({0x0A, 0x01, 'x', 0x12, char(type.size())}) + type;
  EXPECT_TRUE(contains(graph, bytes({0x5A, char(info.size())}) + info));
}

TEST(Onnx, MlDomainImportedWhenUsed) {
  onnx::Graph g("g");
  g.node("TreeEnsembleRegressor", {"x"}, {}, "", "ai.onnx.ml");
  const std::string m = onnx::serialize_model(g, "1.0", {{"k", "v"}}, "");
  EXPECT_TRUE(contains(m, bytes({0x42, 0x0E, 0x0A, 0x0A}) + "ai.onnx.ml" + bytes({0x10, 0x03})));
  // metadata_props (field 14): {key "k", value "v"}
  EXPECT_TRUE(contains(m, bytes({0x72, 0x06, 0x0A, 0x01, 'k', 0x12, 0x01, 'v'})));
}
