// Tensor<T>: a cheap handle to a 2-D value, its gradient and the graph node that produced it.
//
// Define-by-run: every op on a tensor that requires a gradient records a Node holding its inputs and a backward
// closure (the vector-Jacobian product). backward() on a 1x1 result walks the nodes in reverse topological order,
// computed iteratively, so a reused intermediate has all of its gradient before it passes it on.
#pragma once

#include <Eigen/Core>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include <tapegrad/core/error.h>
#include <tapegrad/core/generator.h>

namespace tapegrad {

// Column-major, dynamic size: the storage of every tensor. Examples are columns.
template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

using Index = Eigen::Index;

// How gemm (core/gemm.h) reads an operand: as stored, or transposed.
enum class Op { none, transpose };

template <typename T>
struct Node;

template <typename T>
struct TensorImpl {
  Matrix<T> value;
  Matrix<T> grad;  // empty until a gradient arrives (leaves only; a node holds its output's gradient)
  // Set by zero_grad() instead of a pass of zeros over `grad`: the storage is kept, its values are stale. Reading
  // the gradient writes the zeros then; a backward pass instead assigns its first contribution over the stale
  // values (a product with beta = 0), which saves one pass over every weight per training step.
  bool grad_stale = false;
  bool requires_grad = false;
  std::shared_ptr<Node<T>> grad_fn;  // null for leaves
};

// The gradient rule of one recorded op: given the gradient of the op's output, add the gradients of its inputs.
template <typename T>
using BackwardFn = std::function<void(Node<T>& node, const Matrix<T>& output_grad)>;

template <typename T>
struct Node {
  const char* op = "";  // the op's name, for messages and the gradcheck registry
  std::vector<std::shared_ptr<TensorImpl<T>>> inputs;
  std::weak_ptr<TensorImpl<T>> output;  // weak: the output owns its node, never the other way round
  BackwardFn<T> backward;
  Matrix<T> grad;  // gradient of the output, summed over its consumers during one backward pass
  bool released = false;
  std::uint64_t visit_mark = 0;

  Node();
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const Matrix<T>& input(std::size_t i) const { return inputs[i]->value; }
  bool needs_grad(std::size_t i) const { return inputs[i]->requires_grad; }
  // The value this node produced; alive for the whole of a backward pass.
  const Matrix<T>& output_value() const;

  // Where input i's gradient goes (the producing node's buffer for an intermediate, .grad for a leaf), and
  // whether it holds no gradient yet (`fresh`: empty, or a leaf's stale storage after zero_grad()); the caller
  // then assigns instead of adding, and must write the whole target.
  Matrix<T>& grad_slot(std::size_t i, bool& fresh) {
    TensorImpl<T>& in = *inputs[i];
    if (in.grad_fn) {
      fresh = in.grad_fn->grad.size() == 0;
      return in.grad_fn->grad;
    }
    fresh = in.grad.size() == 0 || in.grad_stale;
    in.grad_stale = false;
    return in.grad;
  }
  // The same target for a rule that adds into parts of it: empty when no gradient has arrived, else real values
  // (a leaf's stale storage is zeroed first).
  Matrix<T>& grad_target(std::size_t i) {
    bool fresh = false;
    Matrix<T>& target = grad_slot(i, fresh);
    if (fresh && target.size() != 0) target.setZero();
    return target;
  }
  // target (+)= expression, assigning when the target holds no gradient yet so that nothing is zero-filled first.
  template <typename Expression>
  void accumulate(std::size_t i, const Expression& expression) {
    bool fresh = false;
    Matrix<T>& target = grad_slot(i, fresh);
    if (fresh) {
      target = expression;
    } else {
      target += expression;
    }
  }
  // target (+)= op(lhs) * op(rhs) through gemm, without a temporary for the product (beta = 1 once the
  // target holds a gradient). Defined in tensor.cpp, next to gemm's include.
  void accumulate_product(std::size_t i, const Matrix<T>& lhs, Op op_lhs, const Matrix<T>& rhs, Op op_rhs);
  // Frees the closure and the references to the inputs (after backward without retain_graph).
  void release();

  // Number of nodes alive in this process (per scalar type): a training step must leave it where it was.
  static long live_count();

 private:
  static std::atomic<long> live_;
};

// Recording switch for this thread. Evaluation and optimizer updates run with it off.
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Turns recording off for its scope (RAII, thread-local), restoring the previous state afterwards.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

template <typename T>
class Tensor {
 public:
  using Scalar = T;

  // An empty (0 x 0) leaf.
  Tensor();
  explicit Tensor(Matrix<T> value, bool requires_grad = false);

  static Tensor zeros(Index rows, Index cols, bool requires_grad = false);
  static Tensor ones(Index rows, Index cols, bool requires_grad = false);
  static Tensor full(Index rows, Index cols, T value, bool requires_grad = false);
  static Tensor scalar(T value, bool requires_grad = false);
  static Tensor from(const Matrix<T>& value, bool requires_grad = false);
  static Tensor normal(Index rows, Index cols, Generator& generator, T mean = T(0), T stddev = T(1),
                       bool requires_grad = false);
  static Tensor uniform(Index rows, Index cols, Generator& generator, T low = T(0), T high = T(1),
                        bool requires_grad = false);

  // The result of an op: recorded in the graph when recording is on and some input requires a gradient.
  static Tensor from_op(const char* op, Matrix<T> value, const std::vector<Tensor>& inputs, BackwardFn<T> backward);

  Index rows() const { return impl_->value.rows(); }
  Index cols() const { return impl_->value.cols(); }
  Index size() const { return impl_->value.size(); }
  std::string shape_string() const;

  const Matrix<T>& value() const { return impl_->value; }
  // In-place access for updates of leaves (optimizers, loading checkpoints); never on a recorded result.
  Matrix<T>& mutable_value() const;
  // Replaces the value of a leaf, keeping its shape; a different shape is an Error naming both.
  void assign(const Matrix<T>& value, const std::string& what = "assign") const;

  // The accumulated gradient; zeros of the tensor's shape when none has arrived yet.
  const Matrix<T>& grad() const;
  Matrix<T>& mutable_grad() const;
  bool has_grad() const { return impl_->grad.size() != 0; }
  // Sets the gradient to zero, keeping its storage: lazily (TensorImpl::grad_stale), so that the next backward
  // pass writes its first contribution over it instead of adding to a pass of zeros.
  void zero_grad() const;

  bool requires_grad() const { return impl_->requires_grad; }
  // Only on leaves; returns *this for chaining.
  const Tensor& set_requires_grad(bool requires_grad) const;
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  // Name of the op that made this tensor, or "leaf".
  const char* op_name() const;

  // The value of a 1x1 tensor.
  T item() const;

  // Backpropagates from this 1x1 result (seed 1), accumulating into the leaves' gradients.
  void backward(bool retain_graph = false) const;
  // Backpropagates an explicit upstream gradient of this tensor's shape.
  void backward(const Matrix<T>& upstream, bool retain_graph = false) const;

  // A new leaf with a copy of the value and no history.
  Tensor detach() const;

  const std::shared_ptr<TensorImpl<T>>& impl() const { return impl_; }
  bool same_as(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl<T>> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<TensorImpl<T>> impl_;
};

extern template struct Node<float>;
extern template struct Node<double>;
extern template class Tensor<float>;
extern template class Tensor<double>;

}  // namespace tapegrad
