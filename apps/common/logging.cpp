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

}  // namespace

void configure_logging(Verbosity verbosity) {
  auto logger = std::make_shared<spdlog::logger>("tapegrad", std::make_shared<StatusLineSink>());
  logger->set_pattern("[%Y-%m-%d %H:%M:%S] [%l] %v");
  logger->set_level(verbosity == Verbosity::quiet     ? spdlog::level::warn
                    : verbosity == Verbosity::verbose ? spdlog::level::debug
                                                      : spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace tapegrad::apps
