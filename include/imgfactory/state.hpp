#pragma once
// The state files of the original Image Factory, written canonically: images/<name>.yaml and
// base-images/<name>.yaml with the original's keys, key order and comments. Rendering merges
// what analyze computes (enrollment, discovered base images, warehouse fields) with what an
// existing file holds: runtime fields (currentVersion, currentDigest, lastBuilt, previousDigest,
// lastUpdated, updateHistory, metadata, enrolledAt, firstDiscovered, rebuildEligibleAt) and any
// top-level key analyze does not own (lastScan, ...) are kept verbatim.
//
// Pure: no file system, no clock (the time is passed in).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imgfactory/enrollment.hpp"

namespace imgf::state {

// An image reference as the state files describe it.
struct BaseRef {
  std::string ref;         // as written (after ARG expansion), e.g. python:3.12-slim -> fullImage
  std::string name;        // state file name for a new file, e.g. python-3.12-slim
  std::string registry;    // docker.io
  std::string repository;  // library/python
  std::string tag;         // 3.12-slim; empty when the reference has only a digest
  std::string digest;      // sha256:...; empty when none
  std::string canonical;   // docker.io/library/python:3.12-slim: the identity of a base image
};

// One top-level entry of an existing state file, its text kept verbatim.
struct Entry {
  std::string key;
  std::string text;     // the key line, verbatim
  std::string value;    // the value on the key line, without a trailing comment ("" for a block)
  std::string comment;  // a trailing "# ..." comment on the key line, or ""
  std::vector<std::string> block;     // the indented lines that follow, verbatim
  std::vector<std::string> comments;  // comment lines directly above the key
  bool blank_before = false;          // a blank line separates it from what precedes it
  int line = 0;
};

// An existing state file: its top-level entries (text) plus the parsed values of the few
// keys analyze reads (baseImages, fullImage, name).
class Document {
 public:
  // Splits the text into entries. With `validate`, also checks that it is a YAML mapping
  // (else imgf::Error, exit 2, FILE:LINE); without, that check waits for validate() or for a
  // value only a YAML parser can read, so that an unchanged file costs a line scan only.
  static Document parse(std::string_view text, const std::string& file_label, bool validate = true);
  // Throws imgf::Error (exit 2, FILE:LINE) when the text is not a YAML mapping.
  void validate() const;

  [[nodiscard]] const Entry* find(std::string_view key) const;
  [[nodiscard]] const std::vector<Entry>& entries() const { return entries_; }
  // The string value of a top-level scalar; nullopt when missing or null.
  [[nodiscard]] std::optional<std::string> scalar(std::string_view key) const;
  // The scalar items of a top-level sequence (empty when missing).
  [[nodiscard]] std::vector<std::string> sequence(std::string_view key) const;
  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  void load() const;
  std::string text_;
  std::string label_;
  std::vector<Entry> entries_;
  mutable bool loaded_ = false;
  mutable std::vector<std::pair<std::string, std::optional<std::string>>> scalars_;
  mutable std::vector<std::pair<std::string, std::vector<std::string>>> sequences_;
};

// What analyze determined about a managed or external image.
enum class Discovery { success, failed, external };
std::string_view to_string(Discovery d);

// The canonical text of images/<name>.yaml. `base_images` are base-image state names (they
// are written sorted, as the original did). `now` is an ISO-8601 UTC time: it becomes
// enrolledAt of a new file, and lastDiscovery whenever the file's content changes (a run
// that changes nothing else keeps the previous lastDiscovery, so the file is not rewritten).
std::string render_image(const enrollment::Image& image, Discovery status,
                         std::vector<std::string> base_images, const Document* existing,
                         std::string_view now);

// The canonical text of base-images/<name>.yaml. `full_image` is the reference written as
// fullImage (an existing file keeps its own spelling of the same reference). `now` becomes
// firstDiscovered of a new file and lastChecked whenever the content changes.
std::string render_base_image(std::string_view name, const BaseRef& ref, std::string_view full_image,
                              const Document* existing, std::string_view now);

// ^<tag with regex metacharacters escaped>$ (RE2 / Go syntax, as Kargo evaluates allowTags).
std::string allow_tags_for(std::string_view tag);
// <registry>/<repository> of an enrolled (external) image, docker.io and library/ filled in
// as the original did.
std::string repo_url_for(const enrollment::Image& image);

// YAML text of a scalar string: plain when a YAML 1.1 reader (PyYAML, the original tool)
// reads it back as the same string, single-quoted otherwise.
std::string scalar_text(std::string_view value);
// The time as the state files quote it: '2025-12-29T19:25:06Z'.
std::string timestamp_text(std::string_view iso8601);

}  // namespace imgf::state
