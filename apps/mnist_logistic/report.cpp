#include "apps/mnist_logistic/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string_view>
#include <vector>

#include <tapegrad/core/atomic_file.h>

namespace tapegrad::apps::mnist_logistic {
namespace {

using Json = nlohmann::json;

std::string percent(const Json& value) {
  return value.is_number() ? fmt::format("{:.2f}%", 100 * value.get<double>()) : "–";
}

std::string number(const Json& value, std::string_view format = "{:.2f}") {
  return value.is_number() ? fmt::format(fmt::runtime(format), value.get<double>()) : "–";
}

std::string text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.is_null() ? "–" : value.dump();
}

struct PresetText {
  const char* name;
  const char* heading;
  const char* about;
  std::vector<std::pair<const char*, const char*>> figures;  // file, what it shows
};

const std::vector<PresetText>& preset_texts() {
  static const std::vector<PresetText> texts = {
      {"binary",
       "Binary task: logistic regression",
       "One sigmoid output yhat = sigmoid(w^T x + b) with the binary cross-entropy "
       "C = -(y ln yhat + (1 - y) ln(1 - yhat)); its gradient -(y - yhat) x is the reference path, "
       "checked against "
       "the tape before training.",
       {{"loss.png", "training and validation loss against the update step"},
        {"accuracy.png", "training and validation accuracy"},
        {"templates.png", "the learnt w as a 28 x 28 image"},
        {"true_class_probability.png", "the probability given to the true class on the test set"}}},
      {"binary-shuffle-vs-not",
       "Binary task: shuffling every epoch against the file's order",
       "The binary run twice, side by side: reshuffled every epoch, and in the training file's order every epoch.",
       {{"validation_loss.png", "both validation-loss curves"},
        {"validation_accuracy.png", "both validation accuracies"}}},
      {"multiclass",
       "Ten classes: softmax regression with L2",
       "Softmax over the ten classes with cross-entropy and J = C + lambda ||W||^2 (W is K x d).",
       {{"loss.png", "training and validation loss against the update step"},
        {"accuracy.png", "training and validation accuracy against the update step"},
        {"cost.png", "training and validation cost J"},
        {"templates.png", "the learnt rows of W as 28 x 28 images"}}},
      {"lambda-sweep",
       "Ten classes: the L2 weight lambda",
       "The multiclass run once per lambda, side by side.",
       {{"validation_accuracy.png", "validation accuracy for each lambda"},
        {"weight_norm.png", "the L2 norm of W against lambda"},
        {"weights.png", "the learnt weights of each lambda as 28 x 28 images"}}},
  };
  return texts;
}

void append_settings(std::string& out, const Json& preset) {
  if (!preset.contains("runs") || preset["runs"].empty() || !preset["runs"][0].contains("eta")) return;
  const Json& run = preset["runs"][0];
  // A setting that the runs of a preset vary is read from the table instead.
  auto shared = [&](const char* key, const std::string& value) {
    for (const Json& other : preset["runs"])
      if (other.contains(key) && other[key] != run[key]) return std::string("per run (see the table)");
    return value;
  };
  out += fmt::format(
      "Settings: eta {}, batch size {}, lambda {}, at most {} epochs, validation every {} update steps, early "
      "stopping after {} validations without a lower validation loss{}, pixels scaled to {}, {} bias, gradients "
      "through the {}.\n\n",
      number(run["eta"], "{:g}"), text(run["batch_size"]), shared("lambda", number(run["lambda"], "{:g}")),
      text(run["max_epochs"]), text(run["evaluate_every_steps"]), text(run["patience"]),
      run.value("patience", 0) > 0 ? " (then the best weights are restored)" : " (off)", text(preset["scaling"]),
      run.value("bias", true) ? "with" : "without", text(run["grad"]));
  if (preset.contains("gradient_check")) {
    out += fmt::format(
        "Tape against reference gradients before training: largest relative error {} on a batch of "
        "{}.\n\n",
        number(preset["gradient_check"]["worst_relative_error"], "{:.1e}"),
        text(preset["gradient_check"]["batch"]));
  }
}

void append_table(std::string& out, const Json& preset, bool with_norm) {
  out +=
      "| run | lambda | shuffle | train acc. | val. acc. | test acc. | stopped at epoch | early stop | best epoch "
      "|";
  out += with_norm ? " norm of W |" : "";
  out += " wall time (s) |\n|---|---|---|---|---|---|---|---|---|";
  out += with_norm ? "---|" : "";
  out += "---|\n";
  for (const Json& run : preset.value("runs", Json::array())) {
    if (run.contains("error")) {
      out += fmt::format("| {} | failed: {} |\n", text(run["name"]), text(run["error"]));
      continue;
    }
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |", text(run["name"]),
                       number(run["lambda"], "{:g}"), text(run["shuffle"]), percent(run["train_accuracy"]),
                       percent(run["val_accuracy"]), percent(run["test_accuracy"]), number(run["stopped_epoch"]),
                       text(run["early_stopped"]), number(run["best_epoch"]));
    if (with_norm) out += fmt::format(" {} |", number(run["weight_norm"], "{:.3f}"));
    out += fmt::format(" {} |\n", number(run["wall_seconds"], "{:.1f}"));
  }
  out += "\n";
}

}  // namespace

std::string report_markdown(const Json& all_summary) {
  const Json& presets = all_summary.value("presets", Json::object());
  std::string out = fmt::format("# Logistic and softmax regression on {}\n\n", text(all_summary["dataset"]));
  if (all_summary.value("fallback", false)) {
    out +=
        "No --data was given, so the study ran on Fashion-MNIST from Debian's dataset-fashion-mnist package "
        "(/usr/share/datasets/fashion-mnist); pass --data DIR to run it on MNIST.\n\n";
  }
  std::vector<std::string> command;
  for (const Json& part : all_summary.value("command_line", Json::array())) command.push_back(text(part));
  out += fmt::format("Command: `{}`\n\n", fmt::join(command, " "));
  out += fmt::format(
      "Threads: {} (a single run's matrix products, or the runs of a sweep side by side). Wall time "
      "of the whole study: {} s.\n\n",
      text(all_summary["threads"]), number(all_summary["wall_seconds"], "{:.1f}"));

  out +=
      "## Overview\n\n| preset | run | train acc. | val. acc. | test acc. | stopped at epoch | wall time (s) |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const PresetText& about : preset_texts()) {
    if (!presets.contains(about.name)) continue;
    const Json& preset = presets[about.name];
    if (preset.contains("error") && !preset.contains("runs")) {
      out += fmt::format("| {} | failed: {} | | | | | |\n", about.name, text(preset["error"]));
      continue;
    }
    for (const Json& run : preset.value("runs", Json::array())) {
      if (run.contains("error")) continue;
      out +=
          fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", about.name, text(run["name"]),
                      percent(run["train_accuracy"]), percent(run["val_accuracy"]), percent(run["test_accuracy"]),
                      number(run["stopped_epoch"]), number(run["wall_seconds"], "{:.1f}"));
    }
  }
  out += "\n";

  for (const PresetText& about : preset_texts()) {
    if (!presets.contains(about.name)) continue;
    const Json& preset = presets[about.name];
    out += fmt::format("## {} (`--preset {}`)\n\n{}\n\n", about.heading, about.name, about.about);
    if (preset.contains("error") && !preset.contains("runs")) {
      out += fmt::format("This preset failed: {}\n\n", text(preset["error"]));
      continue;
    }
    out += fmt::format("Data: {}.\n\n", text(preset["data"]));
    append_settings(out, preset);
    append_table(out, preset, std::string_view(about.name) == "lambda-sweep");
    if (preset.contains("speedup")) {
      if (preset.value("workers", 1) > 1) {
        out += fmt::format(
            "The runs took {} s side by side on {} workers; one after another they would take {} s "
            "({}x).\n\n",
            number(preset["wall_seconds"], "{:.1f}"), text(preset["workers"]),
            number(preset["trial_seconds_sum"], "{:.1f}"), number(preset["speedup"]));
      } else {
        out += fmt::format("The runs took {} s, one after another on one worker (--threads 1).\n\n",
                           number(preset["wall_seconds"], "{:.1f}"));
      }
    }
    out += fmt::format("Preset wall time: {} s.\n\n", number(preset["preset_wall_seconds"], "{:.1f}"));
    for (const auto& [file, what] : about.figures) {
      out += fmt::format("![{}]({}/{})\n\n", what, about.name, file);
    }
  }
  return out;
}

std::string results_text(const Json& summary) {
  if (summary.contains("presets")) {
    std::string out;
    for (const PresetText& about : preset_texts()) {
      if (!summary["presets"].contains(about.name)) continue;
      Json part = summary["presets"][about.name];
      part["preset"] = about.name;
      out += results_text(part);
    }
    return out;
  }
  std::string out = fmt::format("\n{}", text(summary.value("preset", Json("results"))));
  if (summary.contains("dataset")) {
    std::vector<std::string> classes;
    for (const Json& name : summary.value("classes", Json::array())) classes.push_back(text(name));
    out += fmt::format(" ({}{})", text(summary["dataset"]),
                       classes.size() == 2 ? fmt::format(", {}", fmt::join(classes, " vs ")) : std::string());
  }
  out += ":\n";
  if (summary.contains("error") && !summary.contains("runs"))
    return out + "  failed: " + text(summary["error"]) + "\n";
  out += fmt::format("  {:<12} {:>9} {:>9} {:>9} {:>17} {:>11} {:>10}\n", "run", "train", "val.", "test",
                     "stopped at epoch", "early stop", "wall (s)");
  for (const Json& run : summary.value("runs", Json::array())) {
    if (run.contains("error")) {
      out += fmt::format("  {:<12} failed: {}\n", text(run["name"]), text(run["error"]));
      continue;
    }
    out += fmt::format("  {:<12} {:>9} {:>9} {:>9} {:>17} {:>11} {:>10}\n", text(run["name"]),
                       percent(run["train_accuracy"]), percent(run["val_accuracy"]), percent(run["test_accuracy"]),
                       number(run["stopped_epoch"]), text(run["early_stopped"]),
                       number(run["wall_seconds"], "{:.1f}"));
  }
  return out;
}

void write_report(const std::filesystem::path& file, const Json& all_summary) {
  write_file_atomically(file, report_markdown(all_summary));
}

}  // namespace tapegrad::apps::mnist_logistic
