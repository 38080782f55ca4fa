// The presets of the logistic-regression study on 28 x 28 grey images: a binary task (two classes, one sigmoid
// output, binary cross-entropy) and a ten-class task (softmax, cross-entropy, L2), each trained by mini-batch SGD
// with validation every fraction of an epoch and early stopping on the validation loss.
#pragma once

#include <string>
#include <vector>

#include "apps/common/experiment.h"

namespace tapegrad::apps::mnist_logistic {

inline const std::vector<std::string> kPresets = {"binary", "binary-shuffle-vs-not", "multiclass", "lambda-sweep",
                                                  "all"};

// The presets that "all" runs, in order.
inline const std::vector<std::string> kStudyPresets = {"binary", "binary-shuffle-vs-not", "multiclass",
                                                       "lambda-sweep"};

inline const std::vector<double> kSweepLambdas = {0, 0.001, 0.01, 0.1, 1, 2};

enum class DatasetKind { mnist, fashion_mnist };

const char* to_string(DatasetKind kind);
// "MNIST" or "Fashion-MNIST".
const char* display_name(DatasetKind kind);
std::vector<std::string> class_names(DatasetKind kind);
// The two classes of the binary task when --classes is not given: digits 2 and 3 for MNIST, T-shirt/top (0)
// against shirt (6) for Fashion-MNIST, the pair a linear model finds hardest to tell apart.
std::vector<int> default_binary_classes(DatasetKind kind);

// "A,B" with two different whole numbers; UsageError naming --classes otherwise.
std::vector<int> parse_class_pair(const std::string& text);

// Whether a preset trains the binary (two-class) model.
bool is_binary_preset(const std::string& preset);

// Logistic regression for two classes: yhat = sigmoid(w^T x + b), binary cross-entropy, labels 0 and 1.
ExperimentSettings binary_settings();
// Softmax regression over the ten classes with cross-entropy and the L2 term lambda ||W||^2.
ExperimentSettings multiclass_settings();

// The settings a preset starts from (the multiclass settings for lambda-sweep); UsageError for "all" and unknown
// names, which have no single settings.
ExperimentSettings preset_settings(const std::string& preset);

// Update steps between validations: `fraction` of an epoch, rounded, at least one step.
long evaluation_interval(long steps_per_epoch, double fraction);

// binary-shuffle-vs-not: the base with the training set reshuffled every epoch, and without (the file's order).
std::vector<ExperimentSettings> shuffle_trials(const ExperimentSettings& base);
// lambda-sweep: the base once per lambda, named "lambda<value>".
std::vector<ExperimentSettings> lambda_trials(const ExperimentSettings& base, const std::vector<double>& lambdas);

}  // namespace tapegrad::apps::mnist_logistic
