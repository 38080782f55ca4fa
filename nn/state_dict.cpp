#include <tapegrad/nn/state_dict.h>

#include <fmt/format.h>

#include <cstring>

#include <tapegrad/core/error.h>

namespace tapegrad::nn {

template <typename T>
void StateDict<T>::insert(std::string name, Matrix<T> value) {
  if (index_.contains(name)) {
    throw_error(fmt::format("StateDict: the name '{}' is already present; every entry needs its own name", name));
  }
  index_.emplace(name, entries_.size());
  entries_.push_back({std::move(name), std::move(value)});
}

template <typename T>
void StateDict<T>::merge(const StateDict& other) {
  for (const auto& entry : other.entries_) {
    if (index_.contains(entry.name)) {
      throw_error(fmt::format("StateDict: cannot merge: the name '{}' is present in both", entry.name));
    }
  }
  for (const auto& entry : other.entries_) insert(entry.name, entry.value);
}

template <typename T>
const Matrix<T>* StateDict<T>::find(const std::string& name) const {
  const auto found = index_.find(name);
  return found == index_.end() ? nullptr : &entries_[found->second].value;
}

template <typename T>
const Matrix<T>& StateDict<T>::at(const std::string& name) const {
  if (const Matrix<T>* value = find(name)) return *value;
  std::string known;
  for (const auto& entry : entries_) known += (known.empty() ? "" : ", ") + entry.name;
  throw_error(fmt::format("StateDict: no entry named '{}'; it has: {}", name, known.empty() ? "no entries" : known));
}

template <typename T>
std::vector<std::string> StateDict<T>::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& entry : entries_) out.push_back(entry.name);
  return out;
}

template <typename T>
bool StateDict<T>::operator==(const StateDict& other) const {
  if (entries_.size() != other.entries_.size()) return false;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& a = entries_[i];
    const auto& b = other.entries_[i];
    if (a.name != b.name || a.value.rows() != b.value.rows() || a.value.cols() != b.value.cols()) return false;
    // Bitwise, so that NaN equals the same NaN and -0 differs from 0: a round trip must keep every bit.
    const auto bytes = static_cast<std::size_t>(a.value.size()) * sizeof(T);
    if (bytes != 0 && std::memcmp(a.value.data(), b.value.data(), bytes) != 0) return false;
  }
  return true;
}

template class StateDict<float>;
template class StateDict<double>;

}  // namespace tapegrad::nn
