// The operator's view of `imgfactory status`: one aligned line per image, its base images
// indented below it, a summary line. Colour (ANSI) only when asked for; widths are computed
// on the text without colour, in one pass over the rows.
#include <algorithm>

#include "imgfactory/status.hpp"

namespace imgf::status {
namespace {

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kBold = "\x1b[1m";
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kBoldRed = "\x1b[1;31m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kBoldYellow = "\x1b[1;33m";
constexpr const char* kCyan = "\x1b[36m";

// Columns a UTF-8 string takes on a terminal (every code point one column: the table's own
// glyphs are box-drawing characters; names are ASCII).
std::size_t width(std::string_view s) {
  std::size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

struct Cell {
  std::string text;
  const char* color = nullptr;
};
using Row = std::vector<Cell>;

class Grid {
 public:
  explicit Grid(std::size_t columns) : widths_(columns, 0) {}
  void measure(const Row& row) {
    for (std::size_t c = 0; c < row.size() && c < widths_.size(); ++c)
      widths_[c] = std::max(widths_[c], width(row[c].text));
  }
  // Appends the row, its columns padded to the widest cell, two spaces apart, no trailing blanks.
  void print(std::string& out, std::string_view indent, const Row& row, bool color) const {
    std::string line(indent);
    std::size_t pending = 0;  // padding owed before the next non-empty cell
    for (std::size_t c = 0; c < row.size(); ++c) {
      const Cell& cell = row[c];
      if (!cell.text.empty()) {
        line.append(pending, ' ');
        pending = 0;
        if (color && cell.color) {
          line += cell.color;
          line += cell.text;
          line += kReset;
        } else {
          line += cell.text;
        }
      }
      pending += widths_[c] - width(cell.text) + (c + 1 < row.size() ? 2 : 0);
    }
    out += line;
    out += '\n';
  }

 private:
  std::vector<std::size_t> widths_;
};

const char* rebuild_color(Rebuild r) {
  switch (r) {
    case Rebuild::due: return kBoldYellow;
    case Rebuild::waiting: return kCyan;
    case Rebuild::current: return kGreen;
    case Rebuild::unknown:
    case Rebuild::never_built:
    case Rebuild::not_analyzed:
    case Rebuild::external: return kDim;
  }
  return nullptr;
}

std::string rebuild_text(const ImageStatus& i, Time now) {
  switch (i.rebuild) {
    case Rebuild::due: return i.auto_rebuild ? "due" : "due (manual)";
    case Rebuild::waiting: return "due " + relative_time(*i.next_eligible, now);
    default: return std::string(to_string(i.rebuild));
  }
}

Row image_row(const ImageStatus& i, Time now) {
  Row r;
  r.push_back({i.name, kBold});
  r.push_back({i.version.value_or("-"), nullptr});
  r.push_back({i.digest ? short_digest(*i.digest) : "-", nullptr});
  std::string built = "-";
  if (i.last_built) {
    auto t = parse_time(*i.last_built);
    built = t ? relative_time(*t, now) : *i.last_built;
  } else if (i.rebuild != Rebuild::external && i.rebuild != Rebuild::not_analyzed) {
    built = "never";
  }
  r.push_back({built, nullptr});
  r.push_back({rebuild_text(i, now), rebuild_color(i.rebuild)});
  if (!i.scan) {
    r.push_back({"-", kDim});
    r.push_back({"", nullptr});
    return r;
  }
  const ScanRecord& s = *i.scan;
  static constexpr std::array<char, 5> letters = {'C', 'H', 'M', 'L', 'U'};
  std::string counts;
  for (std::size_t k = 0; k < 4; ++k) {  // UNKNOWN only when there are some
    if (k > 0) counts += ' ';
    counts += std::to_string(s.counts[k]) + letters[k];
  }
  if (s.counts[4] > 0) counts += " " + std::to_string(s.counts[4]) + letters[4];
  const char* counts_color = s.counts[0] > 0 ? kBoldRed : s.counts[1] > 0 ? kRed : nullptr;
  r.push_back({counts, counts_color});
  if (s.fail_on) r.push_back({(s.passed ? "pass (" : "FAIL (") + *s.fail_on + ")", s.passed ? kGreen : kBoldRed});
  else r.push_back({s.passed ? "no gate" : "FAIL", s.passed ? kDim : kBoldRed});
  return r;
}

Row base_row(const BaseStatus& b, bool last, bool built, Time now) {
  Row r;
  r.push_back({std::string(last ? "└─ " : "├─ ") + b.reference, nullptr});
  r.push_back({b.digest ? short_digest(*b.digest) : "-", nullptr});
  if (b.missing) {
    r.push_back({"no state file: run 'imgfactory analyze'", kRed});
    return r;
  }
  if (!built) return r;  // nothing to compare with
  switch (b.changed) {
    case Change::yes: {
      std::string t = "changed";
      if (b.last_updated) t += " " + relative_time(*b.last_updated, now);
      if (b.eligible_at) {
        auto at = parse_time(*b.eligible_at);
        t += ", eligible " + (at ? relative_time(*at, now) : *b.eligible_at);
      }
      r.push_back({t, kYellow});
      break;
    }
    case Change::no: r.push_back({"unchanged", kGreen}); break;
    case Change::unknown:
      r.push_back({!b.digest ? "unknown: digest not checked" : "unknown: build inputs not recorded", kDim});
      break;
  }
  return r;
}

std::string summary_line(const Summary& s) {
  auto n = [](std::size_t v, const char* one, const char* many) {
    return std::to_string(v) + " " + (v == 1 ? one : many);
  };
  std::string out = n(s.images, "image", "images");
  out += ", " + std::to_string(s.due) + " due";
  out += ", " + std::to_string(s.scan_failing) + " failing the scan gate";
  if (s.waiting) out += ", " + std::to_string(s.waiting) + " waiting";
  if (s.unknown) out += ", " + std::to_string(s.unknown) + " unknown";
  if (s.current) out += ", " + std::to_string(s.current) + " current";
  if (s.never_built) out += ", " + std::to_string(s.never_built) + " never built";
  if (s.not_analyzed) out += ", " + std::to_string(s.not_analyzed) + " not analyzed";
  if (s.external) out += ", " + std::to_string(s.external) + " external";
  return out;
}

}  // namespace

std::string render_table(const std::vector<ImageStatus>& images, Time now, bool color) {
  const Row header = {{"IMAGE", nullptr},   {"VERSION", nullptr}, {"DIGEST", nullptr}, {"BUILT", nullptr},
                      {"REBUILD", nullptr}, {"SCAN", nullptr},    {"GATE", nullptr}};
  Grid images_grid(header.size());
  Grid bases_grid(3);
  images_grid.measure(header);
  std::vector<Row> rows;
  std::vector<std::vector<Row>> base_rows;
  rows.reserve(images.size());
  base_rows.reserve(images.size());
  for (const auto& i : images) {
    rows.push_back(image_row(i, now));
    images_grid.measure(rows.back());
    auto& bs = base_rows.emplace_back();
    for (std::size_t k = 0; k < i.bases.size(); ++k) {
      bs.push_back(base_row(i.bases[k], k + 1 == i.bases.size(), i.last_built.has_value(), now));
      bases_grid.measure(bs.back());
    }
  }
  std::string out;
  out.reserve(images.size() * 160 + 256);
  if (images.empty()) {
    out += "no images enrolled\n";
    return out;
  }
  images_grid.print(out, "", header, false);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    images_grid.print(out, "", rows[k], color);
    for (const auto& b : base_rows[k]) bases_grid.print(out, "  ", b, color);
  }
  const Summary s = summarize(images);
  out += '\n';
  std::string line = summary_line(s);
  if (color && (s.due > 0 || s.scan_failing > 0)) out += std::string(kBold) + line + kReset;
  else out += line;
  out += '\n';
  return out;
}

}  // namespace imgf::status
