// Ctrl-C and SIGTERM for a training run: the first signal asks training to stop after the step under way (the
// loop then saves its checkpoint), a second one ends the process at once. Hand stop_requested to the loop:
//   train::install_stop_handlers();
//   loop.callbacks().stop_requested = train::stop_requested;
#pragma once

namespace tapegrad::train {

// Installs SIGINT/SIGTERM handlers that ask the training loop to stop after the step under way (a second signal
// ends the process at once), and ignores SIGXFSZ so that a file-size limit becomes a reported write error.
void install_stop_handlers();
bool stop_requested();
// What the first signal does, for tests and for code that decides to stop by itself.
void request_stop();

}  // namespace tapegrad::train
