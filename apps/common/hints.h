// The hints of the failures that are neither bad usage nor bad data (exit code 1), in one place: every one of them
// tells the user what to do next, and the flags they name are each app's own. all_hints(program) lists every hint
// that `program` can print for such a failure, so that a test can hold each flag named against its --help.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tapegrad::apps::hints {

// Training diverged: lower the app's own learning-rate flag (--eta, or --eta-max for the cyclical rate).
std::string diverged(std::string_view program);
// A file of the run directory could not be written (a full disk, a file-size limit).
extern const char* const write_failed;
// checkpoint.bin (or best.bin) of a run to resume is damaged.
extern const char* const damaged_checkpoint;
// std::bad_alloc.
extern const char* const out_of_memory;
// The product threads could not be started; `hardware_threads` is what the machine has.
std::string threads_refused(int hardware_threads);
// Any other failure: still something to do.
extern const char* const other_failure;

// Every hint above as `program` prints it (threads_refused for this machine).
std::vector<std::string> all_hints(std::string_view program);

}  // namespace tapegrad::apps::hints
