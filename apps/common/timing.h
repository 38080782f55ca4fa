// Wall-clock timing of a run and of its named sections (loading, training, evaluation), for summary.json.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace tapegrad::apps {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void restart() { start_ = std::chrono::steady_clock::now(); }
  double elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Seconds spent per named section; a section measured several times adds up. One object per run: it is not
// meant to be shared between threads.
class SectionTimes {
 public:
  // Adds the time until the returned scope ends to section `name`:
  //   { auto timing = times.measure("train"); train(...); }
  class Scope {
   public:
    Scope(SectionTimes& times, std::string name) : times_(&times), name_(std::move(name)) {}
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope() { times_->add(name_, watch_.elapsed_seconds()); }

   private:
    SectionTimes* times_;
    std::string name_;
    Stopwatch watch_;
  };

  [[nodiscard]] Scope measure(std::string name) { return Scope(*this, std::move(name)); }
  void add(const std::string& name, double seconds) { seconds_[name] += seconds; }
  // 0 for a section never measured.
  double seconds(const std::string& name) const;
  double total_seconds() const;
  // {"section": seconds, ...}
  nlohmann::json to_json() const;

 private:
  std::map<std::string, double> seconds_;
};

}  // namespace tapegrad::apps
