#include <tapegrad/core/tensor.h>

#include <fmt/format.h>

#include <utility>

#include <tapegrad/core/gemm.h>

namespace tapegrad {
namespace {

thread_local bool grad_mode_enabled = true;

// Each backward pass marks the nodes it visits with a fresh number, so no visited-set is allocated.
std::atomic<std::uint64_t> next_visit_mark{1};

const char* const kFreedGraphMessage =
    "backward: the graph behind this tensor was already freed by an earlier backward(); "
    "pass retain_graph = true to the first backward() to go through the same graph twice";

}  // namespace

bool grad_enabled() { return grad_mode_enabled; }
void set_grad_enabled(bool enabled) { grad_mode_enabled = enabled; }

// ---------------------------------------------------------------------------------------------------------------
// Node

template <typename T>
std::atomic<long> Node<T>::live_{0};

template <typename T>
Node<T>::Node() {
  live_.fetch_add(1, std::memory_order_relaxed);
}

template <typename T>
Node<T>::~Node() {
  live_.fetch_sub(1, std::memory_order_relaxed);
  // Destroying a long chain through shared_ptr destructors would recurse once per node and overflow the stack.
  // Instead, take over every input node that would die with us and dismantle those one at a time.
  std::vector<std::shared_ptr<Node>> doomed;
  auto adopt_dying_inputs = [&doomed](std::vector<std::shared_ptr<TensorImpl<T>>>& inputs) {
    for (auto& input : inputs) {
      if (input && input.use_count() == 1 && input->grad_fn && input->grad_fn.use_count() == 1) {
        doomed.push_back(std::move(input->grad_fn));
      }
    }
    inputs.clear();
  };
  adopt_dying_inputs(inputs);
  while (!doomed.empty()) {
    std::shared_ptr<Node> node = std::move(doomed.back());
    doomed.pop_back();
    adopt_dying_inputs(node->inputs);
    node->backward = nullptr;  // a closure may hold inputs too
  }
}

template <typename T>
const Matrix<T>& Node<T>::output_value() const {
  auto out = output.lock();
  if (!out) throw_error(fmt::format("{}: backward needs the op's output, which no longer exists", op));
  return out->value;
}

template <typename T>
void Node<T>::accumulate_product(std::size_t i, const Matrix<T>& lhs, Op op_lhs, const Matrix<T>& rhs, Op op_rhs) {
  bool fresh = false;
  Matrix<T>& target = grad_slot(i, fresh);
  gemm(T(1), lhs, op_lhs, rhs, op_rhs, fresh ? T(0) : T(1), target);
}

template <typename T>
void Node<T>::release() {
  backward = nullptr;
  inputs.clear();
  inputs.shrink_to_fit();
  grad.resize(0, 0);
  released = true;
}

template <typename T>
long Node<T>::live_count() {
  return live_.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------------------------------
// Backward engine

namespace {

template <typename T>
void accumulate_into(Matrix<T>& target, const Matrix<T>& gradient) {
  if (target.size() == 0) {
    target = gradient;
  } else {
    target += gradient;
  }
}

template <typename T>
void run_backward(const std::shared_ptr<TensorImpl<T>>& root, const Matrix<T>& seed, bool retain_graph) {
  if (!root->requires_grad) {
    throw_error(
        "backward: this tensor does not require a gradient (no input of it has requires_grad set, or it was "
        "computed under NoGradGuard)");
  }
  if (seed.rows() != root->value.rows() || seed.cols() != root->value.cols()) {
    throw_error(fmt::format("backward: the upstream gradient has shape {} but the tensor has shape {}",
                            shape_string(seed.rows(), seed.cols()),
                            shape_string(root->value.rows(), root->value.cols())));
  }
  if (!root->grad_fn) {  // a leaf: its gradient is the seed itself
    if (root->grad_stale) {
      root->grad = seed;
      root->grad_stale = false;
      return;
    }
    accumulate_into(root->grad, seed);
    return;
  }
  Node<T>* root_node = root->grad_fn.get();
  if (root_node->released) throw_error(kFreedGraphMessage);

  // Iterative depth-first post-order: every node comes after all the nodes that feed it.
  const std::uint64_t mark = next_visit_mark.fetch_add(1, std::memory_order_relaxed);
  std::vector<Node<T>*> order;
  std::vector<std::pair<Node<T>*, std::size_t>> stack;
  root_node->visit_mark = mark;
  stack.emplace_back(root_node, 0);
  while (!stack.empty()) {
    Node<T>* node = stack.back().first;
    const std::size_t next = stack.back().second;
    if (next < node->inputs.size()) {
      ++stack.back().second;
      const TensorImpl<T>& input = *node->inputs[next];
      Node<T>* producer = input.grad_fn.get();
      if (producer != nullptr && input.requires_grad && producer->visit_mark != mark) {
        if (producer->released) throw_error(kFreedGraphMessage);
        producer->visit_mark = mark;
        stack.emplace_back(producer, 0);
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }

  // Reverse post-order: a node runs only once every consumer has added its share of the gradient.
  accumulate_into(root_node->grad, seed);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node<T>& node = **it;
    if (node.grad.size() != 0) node.backward(node, node.grad);
    node.grad.resize(0, 0);
  }
  // Released from the inputs' end, each node's inputs are freed while nothing else still needs them, so the
  // graph goes without deep recursion.
  if (!retain_graph) {
    for (Node<T>* node : order) node->release();
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Tensor

template <typename T>
Tensor<T>::Tensor() : impl_(std::make_shared<TensorImpl<T>>()) {}

template <typename T>
Tensor<T>::Tensor(Matrix<T> value, bool requires_grad) : impl_(std::make_shared<TensorImpl<T>>()) {
  impl_->value = std::move(value);
  impl_->requires_grad = requires_grad;
}

template <typename T>
Tensor<T> Tensor<T>::zeros(Index rows, Index cols, bool requires_grad) {
  return Tensor(Matrix<T>::Zero(rows, cols), requires_grad);
}

template <typename T>
Tensor<T> Tensor<T>::ones(Index rows, Index cols, bool requires_grad) {
  return Tensor(Matrix<T>::Ones(rows, cols), requires_grad);
}

template <typename T>
Tensor<T> Tensor<T>::full(Index rows, Index cols, T value, bool requires_grad) {
  return Tensor(Matrix<T>::Constant(rows, cols, value), requires_grad);
}

template <typename T>
Tensor<T> Tensor<T>::scalar(T value, bool requires_grad) {
  return full(1, 1, value, requires_grad);
}

template <typename T>
Tensor<T> Tensor<T>::from(const Matrix<T>& value, bool requires_grad) {
  return Tensor(value, requires_grad);
}

template <typename T>
Tensor<T> Tensor<T>::normal(Index rows, Index cols, Generator& generator, T mean, T stddev, bool requires_grad) {
  Matrix<T> value(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) value(i, j) = static_cast<T>(generator.normal(mean, stddev));
  return Tensor(std::move(value), requires_grad);
}

template <typename T>
Tensor<T> Tensor<T>::uniform(Index rows, Index cols, Generator& generator, T low, T high, bool requires_grad) {
  Matrix<T> value(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) value(i, j) = static_cast<T>(generator.uniform(low, high));
  return Tensor(std::move(value), requires_grad);
}

template <typename T>
Tensor<T> Tensor<T>::from_op(const char* op, Matrix<T> value, const std::vector<Tensor>& inputs,
                             BackwardFn<T> backward) {
  bool record = false;
  if (grad_enabled()) {
    for (const Tensor& input : inputs) record = record || input.requires_grad();
  }
  Tensor result(std::move(value), false);
  if (!record) return result;
  auto node = std::make_shared<Node<T>>();
  node->op = op;
  node->inputs.reserve(inputs.size());
  for (const Tensor& input : inputs) node->inputs.push_back(input.impl_);
  node->output = result.impl_;
  node->backward = std::move(backward);
  result.impl_->requires_grad = true;
  result.impl_->grad_fn = std::move(node);
  return result;
}

template <typename T>
std::string Tensor<T>::shape_string() const {
  return tapegrad::shape_string(rows(), cols());
}

template <typename T>
Matrix<T>& Tensor<T>::mutable_value() const {
  if (!is_leaf()) {
    throw_error(fmt::format("mutable_value: the tensor is the result of '{}'; only leaves may be changed in place",
                            op_name()));
  }
  return impl_->value;
}

template <typename T>
void Tensor<T>::assign(const Matrix<T>& value, const std::string& what) const {
  if (value.rows() != rows() || value.cols() != cols()) {
    throw_error(fmt::format("{}: shape {} does not match the tensor's shape {}", what,
                            tapegrad::shape_string(value.rows(), value.cols()), shape_string()));
  }
  mutable_value() = value;
}

template <typename T>
const Matrix<T>& Tensor<T>::grad() const {
  if (impl_->grad.size() == 0) impl_->grad = Matrix<T>::Zero(rows(), cols());
  if (impl_->grad_stale) {
    impl_->grad.setZero();
    impl_->grad_stale = false;
  }
  return impl_->grad;
}

template <typename T>
Matrix<T>& Tensor<T>::mutable_grad() const {
  grad();
  return impl_->grad;
}

template <typename T>
void Tensor<T>::zero_grad() const {
  if (impl_->grad.size() != 0) impl_->grad_stale = true;
}

template <typename T>
const Tensor<T>& Tensor<T>::set_requires_grad(bool requires_grad) const {
  if (!is_leaf()) {
    throw_error(fmt::format(
        "set_requires_grad: the tensor is the result of '{}'; requires_grad can be set on leaves only (use "
        "detach() for a new leaf)",
        op_name()));
  }
  impl_->requires_grad = requires_grad;
  return *this;
}

template <typename T>
const char* Tensor<T>::op_name() const {
  return impl_->grad_fn ? impl_->grad_fn->op : "leaf";
}

template <typename T>
T Tensor<T>::item() const {
  if (rows() != 1 || cols() != 1) {
    throw_error(fmt::format("item: the tensor has shape {}; item() needs a (1 x 1) tensor", shape_string()));
  }
  return impl_->value(0, 0);
}

template <typename T>
void Tensor<T>::backward(bool retain_graph) const {
  if (rows() != 1 || cols() != 1) {
    throw_error(fmt::format(
        "backward: the tensor has shape {}; backward() without an upstream gradient needs a (1 x 1) result, "
        "otherwise pass a gradient of the tensor's shape",
        shape_string()));
  }
  run_backward<T>(impl_, Matrix<T>::Ones(1, 1), retain_graph);
}

template <typename T>
void Tensor<T>::backward(const Matrix<T>& upstream, bool retain_graph) const {
  run_backward<T>(impl_, upstream, retain_graph);
}

template <typename T>
Tensor<T> Tensor<T>::detach() const {
  return Tensor(impl_->value, false);
}

template struct Node<float>;
template struct Node<double>;
template class Tensor<float>;
template class Tensor<double>;

}  // namespace tapegrad
