// The k-layer network with batch normalisation: the settings of every preset, validated once, written to
// config.json as they were resolved.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/common/lambda_search.h"
#include "apps/common/settings_table.h"

namespace tapegrad::apps::k_layer_batchnorm {

// Every preset, in the order `all` runs them.
inline const std::vector<std::string> kPresetNames = {"gradcheck",     "three-layer", "three-layer-bn",
                                                      "nine-layer",    "nine-layer-bn", "coarse",
                                                      "fine",          "final",         "sensitivity"};

enum class GradientSource { tape, reference };

struct KLayerSettings {
  std::string preset = "three-layer-bn";
  std::vector<int> hidden_layers = {50, 50};  // --layers 50,50: the 3-layer network
  bool batch_norm = true;
  double lambda = 0.005;
  double sigma = 0;  // > 0: every W from N(0, sigma^2) instead of He's N(0, 2 / fan_in)
  long n_s = 2250;   // 5 * 45,000 / 100
  int cycles = 2;
  int batch_size = 100;
  double eta_min = 1e-5;
  double eta_max = 1e-1;
  double alpha = 0.9;                  // the running averages: mu_av = alpha mu_av + (1 - alpha) mu
  double eps = 2.220446049250313e-16;  // Matlab's eps, as the course asks
  int evaluations_per_cycle = 10;
  int validation_size = 5000;
  int train_size = 0;  // --limit-train; 0: all
  SearchSettings search;  // coarse and fine
  GradientSource gradients = GradientSource::tape;
  bool use_double = false;
  std::uint64_t seed = 42;
  int threads = 1;

  long total_steps() const { return 2 * n_s * cycles; }
};

// The settings a preset starts from; throws UsageError for an unknown name.
KLayerSettings preset_settings(const std::string& preset);
// "50,30,20" -> {50, 30, 20}; throws UsageError naming the flag for anything else.
std::vector<int> parse_layers(const std::string& text);
// Throws UsageError naming the first setting that cannot work, check_resource_bounds included.
void validate(const KLayerSettings& settings);
// Refuses (UsageError naming the flags) settings whose steps, evaluation points or memory cannot fit.
void check_resource_bounds(const KLayerSettings& settings);
// Every setting with its flag, help, bounds and config.json key.
const SettingsTable<KLayerSettings>& settings_table();
nlohmann::json to_json(const KLayerSettings& settings);

}  // namespace tapegrad::apps::k_layer_batchnorm
