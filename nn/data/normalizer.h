// Normalizer: how pixel bytes become network inputs. Every scaling has the form
//   x[f] = (pixel[f] / 255 - mean[f]) / std[f]
// with mean and std fixed (to [0, 1]: 0 and 1; to [-1, 1]: 0.5 and 0.5) or, for standardize, fitted per
// feature on the training set and then applied unchanged to validation and test data.
#pragma once

#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <string>

#include <tapegrad/nn/data/image_dataset.h>

namespace tapegrad::data {

enum class Scaling {
  unit_interval,            // pixel / 255, in [0, 1]
  symmetric_unit_interval,  // 2 * pixel / 255 - 1, in [-1, 1]
  standardize,              // per-feature (pixel / 255 - mean) / std, statistics from fit()
};

// The form above as two d x 1 columns, for a reader that applies it without tapegrad (e.g. saved next to a model).
template <typename T>
struct NormalizerColumns {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> mean;
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> standard_deviation;
};

class Normalizer {
 public:
  explicit Normalizer(Scaling scaling = Scaling::standardize);

  // A standardize normaliser fitted on `training`.
  static Normalizer fitted(const ImageDataset& training);
  // A standardize normaliser with saved statistics (from mean() and standard_deviation()), for checkpoints.
  static Normalizer from_statistics(Eigen::VectorXd mean, Eigen::VectorXd standard_deviation);
  // The inverse of columns(), for a normaliser saved as its columns (a model file): it applies what they say.
  // Columns of a fixed scaling (every mean 0 and std 1, or every mean and std 0.5) give that scaling, whose table
  // is exact (255 lands on 1), where the form's subtraction and division are an ulp off for some bytes; any others
  // give from_statistics (a std of 0 divides by 1, as in fit). An Error unless both are d x 1 with the same d > 0,
  // or when from_statistics refuses the values.
  template <typename T>
  static Normalizer from_columns(const NormalizerColumns<T>& columns);

  // Per-feature mean and population standard deviation (divided by n) of pixel / 255 over `training`, in
  // double. A feature with std 0 is divided by 1 instead, so a constant feature maps to 0. The fixed scalings
  // have nothing to learn and leave fit() without effect, so an app can fit whatever scaling it was given.
  void fit(const ImageDataset& training);

  Scaling scaling() const { return scaling_; }
  // False only for standardize before fit (or from_statistics); apply then throws.
  bool ready() const;
  // The feature count the statistics were fitted for; 0 for the fixed scalings, which accept any.
  int features() const { return static_cast<int>(mean_.size()); }
  // The fitted statistics as computed (std 0 stays 0 here); empty for the fixed scalings.
  const Eigen::VectorXd& mean() const { return mean_; }
  const Eigen::VectorXd& standard_deviation() const { return standard_deviation_; }

  // Normalises the columns of `pixels` into `out` (resized to match; no allocation when it already is).
  template <typename T>
  void apply(const Eigen::Ref<const PixelMatrix>& pixels,
             Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& out) const;
  template <typename T>
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> apply(const Eigen::Ref<const PixelMatrix>& pixels) const;

  // The inner loop of batch gathering: one image of `features` bytes into `features` values. Checks nothing
  // per call; check_features() once before a loop of these.
  template <typename T>
  void apply_column(const std::uint8_t* pixels, T* out, int features) const;

  // mean[f] and std[f] of the form above for images of `features` values (a fitted std of 0 is 1 there: apply
  // divides by 1). Throws like check_features, and when features < 1.
  template <typename T>
  NormalizerColumns<T> columns(int features) const;

  // Throws tapegrad::Error, prefixed by `context`, unless this normaliser can apply to images of `features`.
  void check_features(int features, const std::string& context) const;

 private:
  void set_statistics(Eigen::VectorXd mean, Eigen::VectorXd standard_deviation);
  template <typename T>
  const Eigen::Matrix<T, Eigen::Dynamic, 1>& scale() const;
  template <typename T>
  const Eigen::Matrix<T, Eigen::Dynamic, 1>& center() const;
  template <typename T>
  const std::array<T, 256>& fixed_values() const;

  Scaling scaling_;
  Eigen::VectorXd mean_;
  Eigen::VectorXd standard_deviation_;
  // x = (pixel - center) * scale with center = 255 * mean and scale = 1 / (255 * std), precomputed per feature
  // in both precisions so that the inner loop is one subtraction and one multiplication per byte. Centring
  // before scaling makes a constant training feature exactly 0.
  Eigen::VectorXf scale_float_, center_float_;
  Eigen::VectorXd scale_double_, center_double_;
  // The fixed scalings look values up, so that 0 and 255 land exactly on the ends of the interval.
  std::array<float, 256> fixed_float_{};
  std::array<double, 256> fixed_double_{};
};

}  // namespace tapegrad::data
