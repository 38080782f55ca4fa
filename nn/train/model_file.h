// A trained model's file: the module's state and the normaliser its inputs went through, in one safetensors file,
// so that the file alone turns new images into the model's predictions: in tapegrad (load_model_file) or without
// it (the normaliser is written as the two d x 1 columns of x = (pixel / 255 - normalizer.mean) / normalizer.std).
#pragma once

#include <filesystem>

#include <tapegrad/nn/data/normalizer.h>
#include <tapegrad/nn/module.h>
#include <tapegrad/nn/safetensors.h>
#include <tapegrad/nn/state_dict.h>

namespace tapegrad::train {

// What a model file holds besides the module's state.
template <typename T>
struct LoadedModelFile {
  // Applies what the saved normaliser applied (a fixed scaling, or the fitted statistics with a std of 0 as 1).
  data::Normalizer normalizer;
  int features = 0;  // d: the length of the saved columns, the input size the model was saved for
  nn::SafetensorsMetadata metadata;
  nn::StateDict<T> extra;  // the file's other tensors: neither the module's keys nor the normaliser's
};

// Writes module.state_dict(), then "normalizer.mean" and "normalizer.std" (normalizer.columns<T>(features): d x 1
// each, written 1-D), then `extra`, with the metadata and a "normalizer" entry that says how to apply the columns
// (unless the metadata has its own), through nn::save_module_safetensors (atomic). `features` is d, the input size
// (a fixed scaling does not know it; a fitted one must have been fitted for it). An Error, before anything is
// written, when features < 1, when the normaliser cannot apply to inputs of `features` values (not fitted, or
// fitted for another size), or when a name of `extra` is the normaliser's or a key of the module.
template <typename T>
void save_model_file(const std::filesystem::path& path, const nn::Module<T>& module,
                     const data::Normalizer& normalizer, int features, const nn::StateDict<T>& extra = {},
                     nn::SafetensorsMetadata metadata = {});

// The inverse: loads the module's keys into `module` (strict, as nn::load_module_safetensors) and returns the
// normaliser (data::Normalizer::from_columns), the metadata and the other tensors. An Error naming the file when
// the module does not fit it, or when "normalizer.mean" or "normalizer.std" is missing, not d x 1, of different
// d's or not usable values (negative, NaN, Inf); the file is read and checked whole before `module` changes, so it
// is left unchanged then. A fixed scaling comes back as that scaling, which applies to images of any size: check
// the images against `features`.
template <typename T>
LoadedModelFile<T> load_model_file(const std::filesystem::path& path, nn::Module<T>& module);

}  // namespace tapegrad::train
