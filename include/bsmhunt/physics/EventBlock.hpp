#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bsmhunt::physics {

// Storage types of event columns; they map one-to-one onto HDF5 native types.
enum class ColumnType : uint8_t { f32, f64, i8, i32, u64 };
std::string_view to_string(ColumnType t);

struct ColumnSpec {
  std::string name;
  ColumnType type;
  std::string unit;         // "GeV", "rad", "" for dimensionless
  std::string description;  // written as an HDF5 attribute, for h5py users
};

// A jagged collection (electrons, jets, ...): offsets[N+1] plus flat member arrays,
// the layout of ROOT/awkward.
struct CollectionSpec {
  std::string name;
  std::string description;
  std::vector<ColumnSpec> members;
};

struct EventSchema {
  std::vector<ColumnSpec> columns;          // one value per event
  std::vector<CollectionSpec> collections;  // jagged
  const ColumnSpec* find_column(std::string_view name) const;
  const CollectionSpec* find_collection(std::string_view name) const;
};

using ColumnValues = std::variant<std::vector<float>, std::vector<double>, std::vector<int8_t>,
                                  std::vector<int32_t>, std::vector<uint64_t>>;

struct Column {
  ColumnSpec spec;
  ColumnValues values;
  std::size_t size() const;
  void clear();
  void reserve(std::size_t n);
  template <typename T>
  std::vector<T>& as();
  template <typename T>
  const std::vector<T>& as() const;
};

struct CollectionColumns {
  CollectionSpec spec;
  std::vector<uint64_t> offsets{0};  // local to the block: offsets[0] == 0
  std::vector<Column> members;
  std::size_t n_events() const { return offsets.size() - 1; }
  std::size_t n_objects() const { return offsets.back(); }
  Column& member(std::string_view name);
  const Column& member(std::string_view name) const;
  bool has_member(std::string_view name) const;
  // Marks the end of an event's objects: call once per event after pushing members.
  void close_event() { offsets.push_back(members.empty() ? 0 : members.front().size()); }
};

// A block of events in columnar form: what generators append to, what io writes
// and reads, and what feature extraction consumes.
class EventBlock {
 public:
  EventBlock() = default;
  explicit EventBlock(const EventSchema& schema);
  const EventSchema& schema() const { return schema_; }
  std::size_t size() const;
  void clear();
  void reserve(std::size_t events, std::size_t objects_per_event = 4);

  Column& column(std::string_view name);
  const Column& column(std::string_view name) const;
  template <typename T>
  std::vector<T>& values(std::string_view name) {
    return column(name).as<T>();
  }
  template <typename T>
  const std::vector<T>& values(std::string_view name) const {
    return column(name).as<T>();
  }
  CollectionColumns& collection(std::string_view name);
  const CollectionColumns& collection(std::string_view name) const;
  bool has_collection(std::string_view name) const;
  std::vector<Column>& columns() { return columns_; }
  const std::vector<Column>& columns() const { return columns_; }
  std::vector<CollectionColumns>& collections() { return collections_; }
  const std::vector<CollectionColumns>& collections() const { return collections_; }

  // Throws InternalError if columns or collections disagree on the event count.
  void check_consistent() const;

 private:
  EventSchema schema_;
  std::vector<Column> columns_;
  std::vector<CollectionColumns> collections_;
};

}  // namespace bsmhunt::physics
