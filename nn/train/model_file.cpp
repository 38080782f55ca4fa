#include <tapegrad/nn/train/model_file.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tapegrad::train {
namespace {

constexpr const char* mean_name = "normalizer.mean";
constexpr const char* deviation_name = "normalizer.std";
constexpr const char* how_to_apply =
    "x = (pixel / 255 - normalizer.mean) / normalizer.std, per feature (each of the two holds d values)";

// The normaliser that `tensors` hold, checked before anything is loaded into the module.
template <typename T>
data::Normalizer read_normalizer(const nn::StateDict<T>& tensors, const std::filesystem::path& path) {
  const std::string advice = "a model file is written by train::save_model_file, which saves the normaliser with "
                             "the model; save it again that way";
  const Matrix<T>* mean = tensors.find(mean_name);
  const Matrix<T>* deviation = tensors.find(deviation_name);
  if (mean == nullptr || deviation == nullptr) {
    throw_error(fmt::format("load_model_file: '{}' has no \"{}\" tensor, so the inputs the model expects are "
                            "unknown; {}",
                            path.string(), mean == nullptr ? mean_name : deviation_name, advice));
  }
  try {
    return data::Normalizer::from_columns(data::NormalizerColumns<T>{*mean, *deviation});
  } catch (const Error& error) {
    throw_error(fmt::format("load_model_file: '{}': \"{}\" and \"{}\" are not a normaliser: {}; {}", path.string(),
                            mean_name, deviation_name, error.what(), advice));
  }
}

}  // namespace

template <typename T>
void save_model_file(const std::filesystem::path& path, const nn::Module<T>& module,
                     const data::Normalizer& normalizer, int features, const nn::StateDict<T>& extra,
                     nn::SafetensorsMetadata metadata) {
  const std::string context = fmt::format("save_model_file: cannot save '{}'", path.string());
  if (features < 1)
    throw_error(fmt::format("{}: the inputs must have at least 1 feature, got {}", context, features));
  normalizer.check_features(features, context);
  data::NormalizerColumns<T> columns = normalizer.columns<T>(features);
  nn::StateDict<T> tensors;
  tensors.insert(mean_name, std::move(columns.mean));
  tensors.insert(deviation_name, std::move(columns.standard_deviation));
  for (const auto& entry : extra) {
    if (entry.name == mean_name || entry.name == deviation_name) {
      throw_error(fmt::format("{}: the extra tensor \"{}\" would replace the normaliser's; give it another name",
                              context, entry.name));
    }
    tensors.insert(entry.name, entry.value);
  }
  metadata.try_emplace("normalizer", how_to_apply);
  nn::save_module_safetensors(path, module, tensors, metadata);
}

template <typename T>
LoadedModelFile<T> load_model_file(const std::filesystem::path& path, nn::Module<T>& module) {
  // Everything is read and checked before the module changes (load_module_state loads it last, all or nothing).
  nn::SafetensorsFile<T> file = nn::load_safetensors<T>(path);
  LoadedModelFile<T> loaded;
  loaded.normalizer = read_normalizer(file.tensors, path);
  loaded.features = static_cast<int>(file.tensors.find(mean_name)->rows());
  nn::SafetensorsFile<T> rest{.tensors = {}, .metadata = std::move(file.metadata)};
  for (const auto& entry : file.tensors) {
    if (entry.name != mean_name && entry.name != deviation_name) rest.tensors.insert(entry.name, entry.value);
  }
  nn::SafetensorsFile<T> others = nn::load_module_state(std::move(rest), module, path);
  loaded.extra = std::move(others.tensors);
  loaded.metadata = std::move(others.metadata);
  return loaded;
}

template void save_model_file(const std::filesystem::path&, const nn::Module<float>&, const data::Normalizer&, int,
                              const nn::StateDict<float>&, nn::SafetensorsMetadata);
template void save_model_file(const std::filesystem::path&, const nn::Module<double>&, const data::Normalizer&,
                              int, const nn::StateDict<double>&, nn::SafetensorsMetadata);
template LoadedModelFile<float> load_model_file(const std::filesystem::path&, nn::Module<float>&);
template LoadedModelFile<double> load_model_file(const std::filesystem::path&, nn::Module<double>&);

}  // namespace tapegrad::train
