// safetensors: the tensor exchange format of Hugging Face's safetensors library, which PyTorch users load with
// safetensors.torch.load_file and numpy users with safetensors.numpy.load_file (or a few lines of plain numpy).
//
// Layout: an 8-byte little-endian unsigned header length N, then N bytes of JSON, then the data. The JSON is an
// object mapping each tensor's name to {"dtype": "F32" | "F64", "shape": [...], "data_offsets": [begin, end]}
// (offsets into the data, which the tensors cover exactly, without gaps or overlaps), plus an optional
// "__metadata__" object of string values. Each tensor's data is little-endian and row-major (C order).
//
// How tapegrad's 2-D column-major tensors map to it:
//   - an r x c tensor with c > 1 is written with shape [r, c], its data row by row, so a Linear weight W (out x in)
//     reads as a torch.nn.Linear weight of shape [out, in] with the same values;
//   - an n x 1 column (a bias, BatchNorm's gamma, beta and running statistics) is written 1-D, shape [n], which
//     is how PyTorch stores those, so state moves between the two without reshaping. (The one case this changes:
//     the weight of a Linear with a single input, out x 1, is written [out]; torch wants weight.reshape(out, 1).)
//   - reading maps shape [] to 1 x 1, [n] to n x 1 and [r, c] to r x c; more dimensions are an Error.
// A float tensor is written F32 and a double tensor F64; reading converts F32, F64 and I64 (PyTorch's
// num_batches_tracked) to the requested scalar type. Other dtypes are an Error naming them.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <tapegrad/nn/module.h>
#include <tapegrad/nn/state_dict.h>

namespace tapegrad::nn {

using SafetensorsMetadata = std::map<std::string, std::string>;

template <typename T>
struct SafetensorsFile {
  StateDict<T> tensors;  // in the order of their data in the file
  SafetensorsMetadata metadata;
};

// Writes the tensors (in the dict's order) and the metadata to `path` atomically: to "<path>.tmp", flushed to disk
// (fsync), then renamed over `path`, so a failed save leaves any previous file intact. An Error when a name is not
// valid UTF-8 or is "__metadata__" (the format reserves it), or when the file cannot be written (naming it and the
// system's reason).
template <typename T>
void save_safetensors(const std::filesystem::path& path, const StateDict<T>& tensors,
                      const SafetensorsMetadata& metadata = {});

// Reads a whole file, checking every size before allocating. An Error naming the file and the problem for a file
// shorter than its header length says, a header that is not strict JSON (or has a duplicate name), an unknown or
// unsupported dtype, a shape that does not match its data_offsets, offsets that overlap, leave gaps or run outside
// the data, and more than 2 dimensions.
template <typename T>
SafetensorsFile<T> load_safetensors(const std::filesystem::path& path);

// The model file of an app or a user: the module's state_dict() followed by `extra` tensors (e.g. the input
// normaliser's "normalizer.mean" and "normalizer.std"), with metadata. An Error when an extra name is also a key
// of the module.
template <typename T>
void save_module_safetensors(const std::filesystem::path& path, const Module<T>& module,
                             const StateDict<T>& extra = {}, const SafetensorsMetadata& metadata = {});

// The inverse: loads the file's tensors whose names are keys of the module into it (load_state_dict, so a missing
// or mis-shaped key is an Error naming all of them, and nothing changes then) and returns the others (the extra
// tensors) with the metadata.
template <typename T>
SafetensorsFile<T> load_module_safetensors(const std::filesystem::path& path, Module<T>& module);

// The same for a file already read (load_safetensors): `path` names it in the error.
template <typename T>
SafetensorsFile<T> load_module_state(SafetensorsFile<T> file, Module<T>& module,
                                     const std::filesystem::path& path);

}  // namespace tapegrad::nn
