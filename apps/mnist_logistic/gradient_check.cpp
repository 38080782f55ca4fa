#include "apps/mnist_logistic/gradient_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <span>
#include <vector>

#include "apps/common/classifier.h"
#include <tapegrad/core/gradcheck.h>
#include <tapegrad/nn/loss.h>

namespace tapegrad::apps::mnist_logistic {

GradientCheck check_gradients(const ExperimentSettings& settings, const data::ImageDataset& train,
                              const data::Normalizer& normalizer) {
  GradientCheck check;
  check.batch = std::min({train.size(), settings.batch_size, 100});
  if (check.batch < 1) throw_error(fmt::format("{}: no training images to check gradients on", settings.name));

  // A model of its own, from a stream of the run's seed that training never draws from.
  Generator generator = Generator(settings.seed).split(7);
  Classifier<double> model = make_linear_classifier<double>(train.shape.features(), train.num_classes(), settings.loss,
                                                            settings.init_std, settings.lambda, generator);
  const auto parameters = model.network->named_parameters();
  if (!settings.use_bias) {
    for (const auto& p : parameters)
      if (!nn::is_weight_name(p.name)) p.tensor.mutable_value().setZero();
  }
  normalizer.check_features(train.shape.features(), "gradient check");
  const Matrix<double> inputs = normalizer.apply<double>(train.pixels.leftCols(check.batch));
  const std::span<const int> labels(train.labels.data(), static_cast<std::size_t>(check.batch));

  // The tape as the training loop's step computes it, then the reports' formulas.
  model.network->zero_grad();
  model.cost(model.network->forward(Tensor<double>::from(inputs)), labels).backward();
  std::vector<Matrix<double>> tape_gradients;
  for (const auto& p : parameters) tape_gradients.push_back(p.tensor.grad());
  model.reference_gradients(inputs, labels);

  check.parameters = nlohmann::json::object();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Matrix<double>& reference = parameters[i].tensor.grad();
    const double error = max_relative_error(tape_gradients[i], reference);
    check.worst = std::max(check.worst, error);
    check.parameters[parameters[i].name] = {{"max_relative_error", error},
                                            {"max_abs_gradient", reference.cwiseAbs().maxCoeff()}};
  }
  if (!(check.worst <= kGradientTolerance)) {
    throw_error(
        fmt::format("{}: the tape's gradients differ from the reference formulas by {:.3g} (relative, more "
                    "than {:g}) on a batch of {}: this is a bug in tapegrad; details: {}",
                    settings.name, check.worst, kGradientTolerance, check.batch, check.parameters.dump()));
  }
  return check;
}

nlohmann::json to_json(const GradientCheck& check) {
  return {{"batch", check.batch},
          {"worst_relative_error", check.worst},
          {"tolerance", kGradientTolerance},
          {"parameters", check.parameters}};
}

}  // namespace tapegrad::apps::mnist_logistic
