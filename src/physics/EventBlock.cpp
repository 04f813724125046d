#include "bsmhunt/physics/EventBlock.hpp"

#include <fmt/format.h>

#include "bsmhunt/core/Error.hpp"

namespace bsmhunt::physics {

std::string_view to_string(ColumnType t) {
  switch (t) {
    case ColumnType::f32: return "float32";
    case ColumnType::f64: return "float64";
    case ColumnType::i8: return "int8";
    case ColumnType::i32: return "int32";
    case ColumnType::u64: return "uint64";
  }
  return "?";
}

const ColumnSpec* EventSchema::find_column(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}
const CollectionSpec* EventSchema::find_collection(std::string_view name) const {
  for (const auto& c : collections)
    if (c.name == name) return &c;
  return nullptr;
}

namespace {
ColumnValues make_values(ColumnType t) {
  switch (t) {
    case ColumnType::f32: return std::vector<float>{};
    case ColumnType::f64: return std::vector<double>{};
    case ColumnType::i8: return std::vector<int8_t>{};
    case ColumnType::i32: return std::vector<int32_t>{};
    case ColumnType::u64: return std::vector<uint64_t>{};
  }
  throw InternalError("unknown column type");
}
template <typename T>
constexpr ColumnType type_of();
template <> constexpr ColumnType type_of<float>() { return ColumnType::f32; }
template <> constexpr ColumnType type_of<double>() { return ColumnType::f64; }
template <> constexpr ColumnType type_of<int8_t>() { return ColumnType::i8; }
template <> constexpr ColumnType type_of<int32_t>() { return ColumnType::i32; }
template <> constexpr ColumnType type_of<uint64_t>() { return ColumnType::u64; }
}  // namespace

std::size_t Column::size() const {
  return std::visit([](const auto& v) { return v.size(); }, values);
}
void Column::clear() {
  std::visit([](auto& v) { v.clear(); }, values);
}
void Column::reserve(std::size_t n) {
  std::visit([n](auto& v) { v.reserve(n); }, values);
}
template <typename T>
std::vector<T>& Column::as() {
  if (auto* v = std::get_if<std::vector<T>>(&values)) return *v;
  throw InternalError(fmt::format("column '{}' holds {}, not {}", spec.name, to_string(spec.type),
                                  to_string(type_of<T>())));
}
template <typename T>
const std::vector<T>& Column::as() const {
  return const_cast<Column*>(this)->as<T>();
}
template std::vector<float>& Column::as();
template std::vector<double>& Column::as();
template std::vector<int8_t>& Column::as();
template std::vector<int32_t>& Column::as();
template std::vector<uint64_t>& Column::as();
template const std::vector<float>& Column::as() const;
template const std::vector<double>& Column::as() const;
template const std::vector<int8_t>& Column::as() const;
template const std::vector<int32_t>& Column::as() const;
template const std::vector<uint64_t>& Column::as() const;

Column& CollectionColumns::member(std::string_view name) {
  for (auto& m : members)
    if (m.spec.name == name) return m;
  throw InternalError(fmt::format("collection '{}' has no member '{}'", spec.name, name));
}
bool CollectionColumns::has_member(std::string_view name) const {
  for (const auto& m : members)
    if (m.spec.name == name) return true;
  return false;
}

const Column& CollectionColumns::member(std::string_view name) const {
  return const_cast<CollectionColumns*>(this)->member(name);
}

EventBlock::EventBlock(const EventSchema& schema) : schema_(schema) {
  for (const auto& c : schema_.columns) columns_.push_back(Column{c, make_values(c.type)});
  for (const auto& coll : schema_.collections) {
    CollectionColumns cc{coll, {0}, {}};
    for (const auto& m : coll.members) cc.members.push_back(Column{m, make_values(m.type)});
    collections_.push_back(std::move(cc));
  }
}

std::size_t EventBlock::size() const {
  if (!columns_.empty()) return columns_.front().size();
  if (!collections_.empty()) return collections_.front().n_events();
  return 0;
}

void EventBlock::clear() {
  for (auto& c : columns_) c.clear();
  for (auto& cc : collections_) {
    cc.offsets.assign(1, 0);
    for (auto& m : cc.members) m.clear();
  }
}

void EventBlock::reserve(std::size_t events, std::size_t objects_per_event) {
  for (auto& c : columns_) c.reserve(events);
  for (auto& cc : collections_) {
    cc.offsets.reserve(events + 1);
    for (auto& m : cc.members) m.reserve(events * objects_per_event);
  }
}

Column& EventBlock::column(std::string_view name) {
  for (auto& c : columns_)
    if (c.spec.name == name) return c;
  throw InternalError(fmt::format("event block has no column '{}'", name));
}
const Column& EventBlock::column(std::string_view name) const {
  return const_cast<EventBlock*>(this)->column(name);
}
CollectionColumns& EventBlock::collection(std::string_view name) {
  for (auto& c : collections_)
    if (c.spec.name == name) return c;
  throw InternalError(fmt::format("event block has no collection '{}'", name));
}
const CollectionColumns& EventBlock::collection(std::string_view name) const {
  return const_cast<EventBlock*>(this)->collection(name);
}
bool EventBlock::has_collection(std::string_view name) const {
  for (const auto& c : collections_)
    if (c.spec.name == name) return true;
  return false;
}

void EventBlock::check_consistent() const {
  const std::size_t n = size();
  for (const auto& c : columns_)
    if (c.size() != n)
      throw InternalError(fmt::format("column '{}' has {} values for {} events", c.spec.name, c.size(), n));
  for (const auto& cc : collections_) {
    if (cc.n_events() != n)
      throw InternalError(fmt::format("collection '{}' has {} events, expected {}", cc.spec.name, cc.n_events(), n));
    for (const auto& m : cc.members)
      if (m.size() != cc.n_objects())
        throw InternalError(fmt::format("collection member '{}/{}' has {} values for {} objects", cc.spec.name,
                                        m.spec.name, m.size(), cc.n_objects()));
  }
}

}  // namespace bsmhunt::physics
