#include "apps/common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <string_view>

#include <tapegrad/nn/train/progress.h>

namespace tapegrad::apps {

namespace {

constexpr const char* log_pattern = "[%Y-%m-%d %H:%M:%S] [%l] %v";

// Writes each formatted message above the terminal's progress line instead of through it.
class StatusLineSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    train::StatusLine::standard_error().print_above(std::string_view(formatted.data(), formatted.size()));
  }
  void flush_() override {}
};

spdlog::level::level_enum level_for(Verbosity verbosity) {
  switch (verbosity) {
    case Verbosity::quiet:
      return spdlog::level::warn;
    case Verbosity::verbose:
      return spdlog::level::debug;
    case Verbosity::normal:
      break;
  }
  return spdlog::level::info;
}

}  // namespace

void configure_logging(Verbosity verbosity) {
  auto logger = std::make_shared<spdlog::logger>("tapegrad", std::make_shared<StatusLineSink>());
  logger->set_pattern(log_pattern);
  logger->set_level(level_for(verbosity));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace tapegrad::apps
