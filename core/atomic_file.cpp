#include <tapegrad/core/atomic_file.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include <tapegrad/core/error.h>

namespace tapegrad {
namespace {

std::filesystem::path temporary_sibling(const std::filesystem::path& target) {
  static std::atomic<unsigned long> counter{0};
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp-";
  name += std::to_string(::getpid());
  name += '-';
  name += std::to_string(counter++);
  return target.parent_path() / name;
}

void sync_directory(const std::filesystem::path& directory) {
  const int descriptor = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (descriptor < 0) return;
  ::fsync(descriptor);
  ::close(descriptor);
}

}  // namespace

std::string FileWriteFailure::reason() const { return std::generic_category().message(error_number); }

AtomicFile::AtomicFile(std::filesystem::path target)
    : target_(std::move(target)), temporary_(temporary_sibling(target_)) {
  descriptor_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (descriptor_ < 0) throw FileWriteFailure{"create", errno, temporary_};
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (descriptor_ >= 0) ::close(descriptor_);
  ::unlink(temporary_.c_str());
}

void AtomicFile::fail(const char* action, int error_number) {
  if (descriptor_ >= 0) ::close(descriptor_);
  descriptor_ = -1;
  ::unlink(temporary_.c_str());
  committed_ = true;  // nothing left for the destructor to clean up
  throw FileWriteFailure{action, error_number, temporary_};
}

void AtomicFile::write(const void* data, std::size_t size) {
  const auto* next = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(descriptor_, next, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("write", errno);
    }
    if (written == 0) fail("write", EIO);
    next += written;
    size -= static_cast<std::size_t>(written);
  }
}

void AtomicFile::commit() {
  // fsync fails with EINVAL on files that cannot be synchronised (pipes, character devices): nothing to flush.
  if (::fsync(descriptor_) != 0 && errno != EINVAL) fail("flush to disk", errno);
  const int descriptor = descriptor_;
  descriptor_ = -1;
  if (::close(descriptor) != 0) fail("close", errno);
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) fail("rename", errno);
  committed_ = true;
  sync_directory(target_.parent_path());
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  try {
    AtomicFile file(path);
    file.write(content);
    file.commit();
  } catch (const FileWriteFailure& failure) {
    throw WriteError("cannot write '" + path.string() + "': could not " + failure.action + " '" +
                     failure.temporary.string() + "': " + failure.reason());
  }
}

}  // namespace tapegrad
