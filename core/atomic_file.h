// A file written whole or not at all. The bytes go to a temporary file of its own in the target's directory
// (".<name>.tmp-<pid>-<n>", unique per process and writer, so two writers of one path never share it), are flushed
// to disk and renamed over the target by commit(): a reader sees the old file or the new one, never a mix, and a
// crash or a full disk leaves the old file as it was. The checkpoints, the safetensors files, the charts and the
// files of a run directory (train::RunDirectory) are all written through it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace tapegrad {

// What failed while writing a file: the step ("create", "write", "flush to disk", "close", "rename"), the errno,
// and the temporary file involved. Callers turn it into an Error that names their file and what stays unchanged.
struct FileWriteFailure {
  std::string action;
  int error_number = 0;
  std::filesystem::path temporary;

  // The system's text for error_number ("No space left on device").
  std::string reason() const;
};

class AtomicFile {
 public:
  // Creates the temporary file; throws FileWriteFailure ("create").
  explicit AtomicFile(std::filesystem::path target);
  // Without commit(), the temporary file is closed and removed: the target is untouched.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes, going on after short writes and signals; throws FileWriteFailure ("write").
  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }

  // Flushes the file to disk, closes it, renames it over the target and syncs the directory (best effort: not
  // every file system can). Throws FileWriteFailure, after removing the temporary file.
  void commit();

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temporary() const { return temporary_; }

 private:
  [[noreturn]] void fail(const char* action, int error_number);

  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int descriptor_ = -1;
  bool committed_ = false;
};

// AtomicFile(path), write(content), commit(). Throws WriteError: "cannot write '<path>': could not <action>
// '<temporary>': <reason>"; the temporary file is gone then and any previous file at `path` is unchanged.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace tapegrad
