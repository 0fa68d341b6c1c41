#pragma once
// Internal pieces of the trivy module shared by its source files (not a public header).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "imgfactory/trivy.hpp"

namespace imgf::trivy::detail {

// Bytes of a report, read in chunks (a file descriptor or memory).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills up to `n` bytes; returns 0 at the end. Throws imgf::Error on a read error.
  virtual std::size_t read(char* buf, std::size_t n) = 0;
};

// A Result as the reader knows it when a finding is delivered. `index` is the position of the
// Result in the report; target/klass/type may still be empty when the report gives them after
// the findings (they are final in ReportSink::result_end).
struct ResultMeta {
  std::size_t index = 0;
  std::string target, klass, type;
};

// Receives the findings of a report as they are parsed, in report order.
class ReportSink {
 public:
  virtual ~ReportSink() = default;
  virtual void vulnerability(const ResultMeta& meta, Vulnerability&& v) = 0;
  virtual void misconfiguration(const ResultMeta& meta, Misconfiguration&& m) = 0;
  virtual void secret(const ResultMeta& meta, Secret&& s) = 0;
  // After the last finding of a Result: its final meta, its MisconfSummary (if the report has
  // one) and the locations of its packages (Detail::full).
  virtual void result_end(const ResultMeta& meta, std::optional<MisconfSummary> summary,
                          std::unordered_map<std::string, std::vector<PackageLocation>>&& locations) = 0;
};

struct ReadStats {
  std::string sha256;
  std::uint64_t bytes = 0;
};

// Parses a Trivy JSON report (SchemaVersion 2) from `source`, delivering findings to `sink`.
// Throws imgf::Error (exit 2) with `label` and the line at fault when the input is not such a
// report (not JSON, truncated, invalid UTF-8, another SchemaVersion, wrong shapes).
ReportHeader read_report(ByteSource& source, const std::string& label, Detail detail,
                         ReportSink& sink, ReadStats& stats);

// Wraps a source so that `check` runs before every read (interruption).
class CheckedSource final : public ByteSource {
 public:
  CheckedSource(ByteSource& inner, const std::function<void()>& check) : inner_(inner), check_(check) {}
  std::size_t read(char* buf, std::size_t n) override {
    if (check_) check_();
    return inner_.read(buf, n);
  }

 private:
  ByteSource& inner_;
  const std::function<void()>& check_;
};

}  // namespace imgf::trivy::detail
