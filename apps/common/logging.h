// Logging set-up shared by the apps: spdlog's default logger, on stderr, "[time] [level] message".
#pragma once

namespace tapegrad::apps {

// quiet: warnings and errors only; normal: progress and results; verbose: also debug detail.
enum class Verbosity { quiet, normal, verbose };

// Makes spdlog's default logger write "[2024-05-01 12:34:56] [info] message" lines to stderr at the level that
// `verbosity` asks for. Its lines are printed above the terminal progress line (StatusLine::standard_error())
// rather than through it. Calling it again replaces the logger, e.g. to change the level.
void configure_logging(Verbosity verbosity);

}  // namespace tapegrad::apps
