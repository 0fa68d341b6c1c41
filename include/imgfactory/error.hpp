#pragma once
// One error type for failures a person can act on: it carries the exit code of CLI.md,
// the file and line at fault (where there is one) and a hint. Thrown by library code,
// caught once in main.
#include <stdexcept>
#include <string>

namespace imgf {

// Exit codes of CLI.md.
enum class Exit : int {
  ok = 0,
  failure = 1,      // the operation failed (build, push, clone, scanner error)
  usage = 2,        // usage or input error (bad flag, invalid images.yaml, unparseable Dockerfile)
  policy = 3,       // scan policy violated (--fail-on)
  sigint = 130,
  sigterm = 143,
};

class Error : public std::runtime_error {
 public:
  Error(Exit code, std::string message, std::string file = {}, int line = 0, std::string hint = {});

  [[nodiscard]] Exit code() const noexcept { return code_; }
  [[nodiscard]] int exit_code() const noexcept { return static_cast<int>(code_); }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] const std::string& file() const noexcept { return file_; }
  [[nodiscard]] int line() const noexcept { return line_; }
  [[nodiscard]] const std::string& hint() const noexcept { return hint_; }
  // "file:line: message" (file and line only where known), then "  hint: ..." on a new line.
  [[nodiscard]] std::string formatted() const;

 private:
  Exit code_;
  std::string message_;
  std::string file_;
  int line_;
  std::string hint_;
};

// Input or usage errors: exit 2.
[[nodiscard]] Error input_error(std::string message, std::string file = {}, int line = 0,
                                std::string hint = {});
// Operation failures: exit 1.
[[nodiscard]] Error failure(std::string message, std::string file = {}, int line = 0,
                            std::string hint = {});

}  // namespace imgf
