#include <tapegrad/nn/train/model_file.h>

#include <fmt/format.h>

#include <tapegrad/core/error.h>

namespace tapegrad::train {
namespace {

constexpr const char* mean_name = "normalizer.mean";
constexpr const char* deviation_name = "normalizer.std";
constexpr const char* how_to_apply = "x = (pixel / 255 - normalizer.mean) / normalizer.std, per feature (both d x 1)";

// Takes the normaliser's two columns out of `file`'s tensors; the rest stay extra.
template <typename T>
LoadedModelFile<T> split_normalizer(nn::SafetensorsFile<T> file, const std::filesystem::path& path) {
  const std::string advice = "a model file is written by train::save_model_file, which saves the normaliser with "
                             "the model; save it again that way";
  const Matrix<T>* mean = file.tensors.find(mean_name);
  const Matrix<T>* deviation = file.tensors.find(deviation_name);
  if (mean == nullptr || deviation == nullptr) {
    throw_error(fmt::format("load_model_file: '{}' has no \"{}\" tensor, so the inputs the model expects are "
                            "unknown; {}",
                            path.string(), mean == nullptr ? mean_name : deviation_name, advice));
  }
  LoadedModelFile<T> loaded;
  try {
    loaded.normalizer = data::Normalizer::from_columns(data::NormalizerColumns<T>{*mean, *deviation});
  } catch (const Error& error) {
    throw_error(fmt::format("load_model_file: '{}': \"{}\" and \"{}\" are not a normaliser: {}; {}", path.string(),
                            mean_name, deviation_name, error.what(), advice));
  }
  loaded.features = static_cast<int>(mean->rows());
  loaded.metadata = std::move(file.metadata);
  for (const auto& entry : file.tensors) {
    if (entry.name != mean_name && entry.name != deviation_name) loaded.extra.insert(entry.name, entry.value);
  }
  return loaded;
}

}  // namespace

template <typename T>
void save_model_file(const std::filesystem::path& path, const nn::Module<T>& module,
                     const data::Normalizer& normalizer, int features, nn::SafetensorsMetadata metadata) {
  normalizer.check_features(features, fmt::format("save_model_file: cannot save '{}'", path.string()));
  data::NormalizerColumns<T> columns = normalizer.columns<T>(features);
  nn::StateDict<T> extra;
  extra.insert(mean_name, std::move(columns.mean));
  extra.insert(deviation_name, std::move(columns.standard_deviation));
  metadata.try_emplace("normalizer", how_to_apply);
  nn::save_module_safetensors(path, module, extra, metadata);
}

template <typename T>
LoadedModelFile<T> load_model_file(const std::filesystem::path& path, nn::Module<T>& module) {
  // The module's state is checked by load_module_safetensors (nothing changes when it does not fit), the
  // normaliser only after it: a file without a usable normaliser puts the module back as it was.
  const nn::StateDict<T> before = module.state_dict();
  nn::SafetensorsFile<T> file = nn::load_module_safetensors(path, module);
  try {
    return split_normalizer(std::move(file), path);
  } catch (const Error&) {
    module.load_state_dict(before);
    throw;
  }
}

template void save_model_file(const std::filesystem::path&, const nn::Module<float>&, const data::Normalizer&,
                              int, nn::SafetensorsMetadata);
template void save_model_file(const std::filesystem::path&, const nn::Module<double>&, const data::Normalizer&,
                              int, nn::SafetensorsMetadata);
template LoadedModelFile<float> load_model_file(const std::filesystem::path&, nn::Module<float>&);
template LoadedModelFile<double> load_model_file(const std::filesystem::path&, nn::Module<double>&);

}  // namespace tapegrad::train
