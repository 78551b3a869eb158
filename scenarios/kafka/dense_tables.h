// scenarios/kafka/dense_tables.h
// Flat tables for the checkers' ghost state, keyed by what is dense in a run: offsets (from
// 0 up, one per record) and record ids (a producer's node in the high bits, its attempt
// count in the low 40; see Producer::next_record_id). A std::map node per committed offset
// and per produced record was a fifth of a dc-loss run's time (allocation, rebalancing,
// teardown; issue 15). Lookups only: neither table is iterated, so nothing depends on the
// order of anything but the keys.
//
// Keys outside the dense range (a negative offset, a record id with more than 2^24 attempts)
// go to an ordered map beside the vector, so any key works, just slower.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace faultline::kafka {

// Values by non-negative integer key, default-made on first use like std::map::operator[],
// and told apart from keys never used.
template <typename T>
class DenseTable {
 public:
  static constexpr uint64_t kDenseLimit = uint64_t{1} << 24;

  // The value of `key`, made (T{}) if new.
  T& operator[](int64_t key) { return *emplace(key, T{}).first; }
  // Like std::map::emplace: the value at `key` and whether it was made now.
  std::pair<T*, bool> emplace(int64_t key, T value) {
    if (key < 0 || static_cast<uint64_t>(key) >= kDenseLimit) {
      auto [it, fresh] = overflow_.emplace(key, std::move(value));
      if (fresh) note(key);
      return {&it->second, fresh};
    }
    const auto i = static_cast<size_t>(key);
    if (i >= made_.size()) {
      made_.resize(i + 1, 0);
      values_.resize(i + 1);
    }
    if (made_[i] != 0) return {&values_[i], false};
    made_[i] = 1;
    values_[i] = std::move(value);
    note(key);
    return {&values_[i], true};
  }
  const T* find(int64_t key) const {
    if (key < 0 || static_cast<uint64_t>(key) >= kDenseLimit) {
      auto it = overflow_.find(key);
      return it == overflow_.end() ? nullptr : &it->second;
    }
    const auto i = static_cast<size_t>(key);
    return i < made_.size() && made_[i] != 0 ? &values_[i] : nullptr;
  }
  T* find(int64_t key) { return const_cast<T*>(std::as_const(*this).find(key)); }
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  // The largest key made; requires !empty().
  int64_t last_key() const { return last_; }

 private:
  void note(int64_t key) {
    last_ = count_ == 0 ? key : std::max(last_, key);
    ++count_;
  }
  std::vector<T> values_;
  std::vector<uint8_t> made_;
  std::map<int64_t, T> overflow_;
  size_t count_ = 0;
  int64_t last_ = 0;
};

// Values by record id: one DenseTable per producer (the id's high 24 bits), by attempt count.
template <typename T>
class RecordTable {
 public:
  static constexpr int kLowBits = 40;

  T& operator[](uint64_t record_id) { return lane(record_id >> kLowBits)[low(record_id)]; }
  std::pair<T*, bool> emplace(uint64_t record_id, T value) {
    return lane(record_id >> kLowBits).emplace(low(record_id), std::move(value));
  }
  const T* find(uint64_t record_id) const {
    const uint64_t prefix = record_id >> kLowBits;
    for (const auto& [p, table] : lanes_) {
      if (p == prefix) return table.find(low(record_id));
    }
    return nullptr;
  }
  T* find(uint64_t record_id) { return const_cast<T*>(std::as_const(*this).find(record_id)); }

 private:
  static int64_t low(uint64_t record_id) { return static_cast<int64_t>(record_id & ((uint64_t{1} << kLowBits) - 1)); }
  DenseTable<T>& lane(uint64_t prefix) {
    for (auto& [p, table] : lanes_) {
      if (p == prefix) return table;
    }
    return lanes_.emplace_back(prefix, DenseTable<T>{}).second;
  }
  std::vector<std::pair<uint64_t, DenseTable<T>>> lanes_;  // a handful of producers
};

}  // namespace faultline::kafka
