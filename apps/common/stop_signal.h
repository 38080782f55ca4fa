// Ctrl-C and SIGTERM for the apps: the first signal asks training to stop after the step under way (it then saves a
// checkpoint), a second one ends the process at once.
#pragma once

#include <filesystem>
#include <string>

namespace tapegrad::apps {

// Installs SIGINT/SIGTERM handlers that ask the training loop to stop after the step under way (a second signal
// ends the process at once), and ignores SIGXFSZ so that a file-size limit becomes a reported write error.
void install_stop_handlers();
bool stop_requested();
// What the first signal does, for tests and for code that decides to stop by itself.
void request_stop();
// Throws Interrupted ("<what> was interrupted; what finished is in <directory>") once a stop was requested.
void throw_if_interrupted(const std::string& what, const std::filesystem::path& directory);

}  // namespace tapegrad::apps
