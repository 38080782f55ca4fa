// StateDict<T>: a module's state by dotted name (parameters and buffers), in a stable order: the order of
// Module::state_dict(), which is also the order a safetensors file is written in. Values are copies (a snapshot):
// training the module afterwards does not change a StateDict taken before.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include <tapegrad/core/tensor.h>

namespace tapegrad::nn {

template <typename T>
struct NamedMatrix {
  std::string name;
  Matrix<T> value;
};

template <typename T>
class StateDict {
 public:
  StateDict() = default;

  // Appends an entry; an Error when the name is already present.
  void insert(std::string name, Matrix<T> value);
  // Appends every entry of `other`; an Error naming the first name present in both (nothing is added then).
  void merge(const StateDict& other);
  bool contains(const std::string& name) const { return index_.contains(name); }
  // Null when there is no entry by that name.
  const Matrix<T>* find(const std::string& name) const;
  // The entry by that name; an Error listing the names present when there is none.
  const Matrix<T>& at(const std::string& name) const;

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::vector<std::string> names() const;
  // In insertion order.
  typename std::vector<NamedMatrix<T>>::const_iterator begin() const { return entries_.begin(); }
  typename std::vector<NamedMatrix<T>>::const_iterator end() const { return entries_.end(); }

  // Same names in the same order, same shapes and the same values bit for bit.
  bool operator==(const StateDict& other) const;

 private:
  std::vector<NamedMatrix<T>> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

extern template class StateDict<float>;
extern template class StateDict<double>;

}  // namespace tapegrad::nn
