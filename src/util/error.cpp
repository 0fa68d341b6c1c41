#include "imgfactory/error.hpp"

#include <utility>

namespace imgf {

namespace {
std::string compose(const std::string& message, const std::string& file, int line,
                    const std::string& hint) {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  }
  out += message;
  if (!hint.empty()) out += "\n  hint: " + hint;
  return out;
}
}  // namespace

Error::Error(Exit code, std::string message, std::string file, int line, std::string hint)
    : std::runtime_error(compose(message, file, line, hint)),
      code_(code),
      message_(std::move(message)),
      file_(std::move(file)),
      line_(line),
      hint_(std::move(hint)) {}

std::string Error::formatted() const { return what(); }

Error input_error(std::string message, std::string file, int line, std::string hint) {
  return Error(Exit::usage, std::move(message), std::move(file), line, std::move(hint));
}

Error failure(std::string message, std::string file, int line, std::string hint) {
  return Error(Exit::failure, std::move(message), std::move(file), line, std::move(hint));
}

}  // namespace imgf
