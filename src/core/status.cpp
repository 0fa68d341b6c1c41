// `imgfactory status`: times, the decision per image (changedSinceBuild, rebuildDue) and the
// JSON of CLI.md. Pure: the clock is a parameter.
#include "imgfactory/status.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace imgf::status {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int num(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

}  // namespace

std::optional<Time> parse_time(std::string_view s) {
  using namespace std::chrono;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (!digits(s, 0, 4) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2) || s[7] != '-' || !digits(s, 8, 2))
    return std::nullopt;
  const year_month_day ymd{year{num(s, 0, 4)}, month{static_cast<unsigned>(num(s, 5, 2))},
                           day{static_cast<unsigned>(num(s, 8, 2))}};
  if (!ymd.ok()) return std::nullopt;
  Time t{sys_days{ymd}};
  if (s.size() == 10) return t;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  if (!digits(s, 11, 2) || s.size() < 19 || s[13] != ':' || !digits(s, 14, 2) || s[16] != ':' || !digits(s, 17, 2))
    return std::nullopt;
  const int hh = num(s, 11, 2), mm = num(s, 14, 2), ss = num(s, 17, 2);
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  t += hours{hh} + minutes{mm} + seconds{ss};
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return std::nullopt;  // fractions are dropped: the table shows seconds at best
  }
  if (i < s.size() && s[i] == ' ') ++i;
  if (i == s.size()) return t;  // no offset: UTC
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) return t;
  if (s[i] != '+' && s[i] != '-') return std::nullopt;
  const int sign = s[i] == '+' ? 1 : -1;
  ++i;
  if (!digits(s, i, 2)) return std::nullopt;
  int oh = num(s, i, 2), om = 0;
  i += 2;
  if (i < s.size() && s[i] == ':') ++i;
  if (i < s.size()) {
    if (!digits(s, i, 2) || i + 2 != s.size()) return std::nullopt;
    om = num(s, i, 2);
  }
  if (oh > 23 || om > 59) return std::nullopt;
  return t - sign * (hours{oh} + minutes{om});
}

std::string format_time(Time t) {
  using namespace std::chrono;
  const sys_days d = floor<days>(t);
  const year_month_day ymd{d};
  const hh_mm_ss hms{t - d};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string relative_time(Time t, Time now) {
  const long long d = (now - t).count();
  const bool future = d < 0;
  const long long a = future ? -d : d;
  if (a < 5) return "now";
  constexpr long long minute = 60, hour = 3600, day = 86400;
  std::string amount;
  if (a < minute) amount = std::to_string(a) + "s";
  else if (a < hour) amount = std::to_string(a / minute) + "m";
  else if (a < 48 * hour) amount = std::to_string(a / hour) + "h";
  else if (a < 60 * day) amount = std::to_string(a / day) + "d";
  else if (a < 730 * day) amount = std::to_string(a / (30 * day)) + "mo";
  else amount = std::to_string(a / (365 * day)) + "y";
  return future ? "in " + amount : amount + " ago";
}

std::string short_digest(std::string_view digest) {
  if (auto colon = digest.find(':'); colon != std::string_view::npos) digest.remove_prefix(colon + 1);
  return std::string(digest.substr(0, 12));
}

std::string_view to_string(Rebuild r) {
  switch (r) {
    case Rebuild::due: return "due";
    case Rebuild::waiting: return "waiting";
    case Rebuild::unknown: return "unknown";
    case Rebuild::current: return "current";
    case Rebuild::never_built: return "never built";
    case Rebuild::not_analyzed: return "not analyzed";
    case Rebuild::external: return "external";
  }
  return "unknown";
}

namespace {

// changedSinceBuild: the base's recorded digest against the one the image was built on.
Change changed_since_build(const std::optional<BuiltOn>& built, const std::optional<std::string>& now_digest) {
  if (!built || !now_digest) return Change::unknown;
  if (built->digest) return *built->digest == *now_digest ? Change::no : Change::yes;
  // Only per-platform digests: a single-platform base serves the same digest for its tag.
  for (const auto& [platform, digest] : built->platforms)
    if (digest == *now_digest) return Change::no;
  return Change::unknown;
}

}  // namespace

ImageStatus evaluate(const enrollment::Image& image, const ImageRecord* record,
                     const std::function<const BaseRecord*(const std::string&)>& base, Time now) {
  ImageStatus st;
  st.name = image.name;
  st.auto_rebuild = image.auto_rebuild;
  if (record != nullptr) {
    st.version = record->current_version;
    st.digest = record->current_digest;
    st.last_built = record->last_built;
    st.scan = record->last_scan;
  }
  if (!image.managed()) {
    st.rebuild = Rebuild::external;
    return st;
  }
  if (record == nullptr) {
    st.rebuild = Rebuild::not_analyzed;
    return st;
  }
  bool any_unknown = false, any_due = false;
  for (const auto& name : record->base_images) {
    BaseStatus b;
    b.name = name;
    b.reference = name;
    const BaseRecord* r = base(name);
    if (r == nullptr) {
      b.missing = true;
    } else {
      if (!r->full_image.empty()) b.reference = r->full_image;
      b.digest = r->current_digest;
      if (r->last_updated) b.last_updated = parse_time(*r->last_updated);
      auto own = r->eligible_by_image.find(image.name);
      const std::optional<std::string> eligible =
          own != r->eligible_by_image.end() ? std::optional<std::string>(own->second) : r->eligible_default;
      b.eligible_at = eligible;
    }
    std::optional<BuiltOn> built;
    if (auto it = record->built_on.find(name); it != record->built_on.end()) {
      built = it->second;
      b.built_on = it->second.digest;
    }
    b.changed = changed_since_build(built, b.digest);
    if (b.changed == Change::unknown) any_unknown = true;
    if (b.changed == Change::yes) {
      // No rebuildEligibleAt recorded: nothing asks to wait.
      const std::optional<Time> at = b.eligible_at ? parse_time(*b.eligible_at) : std::nullopt;
      if (!at || *at <= now) any_due = true;
      else if (!st.next_eligible || *at < *st.next_eligible) st.next_eligible = at;
    }
    st.bases.push_back(std::move(b));
  }
  if (!st.last_built) st.rebuild = Rebuild::never_built;
  else if (any_due) st.rebuild = Rebuild::due;
  else if (st.next_eligible) st.rebuild = Rebuild::waiting;
  else if (any_unknown) st.rebuild = Rebuild::unknown;
  else st.rebuild = Rebuild::current;
  st.rebuild_due = st.rebuild == Rebuild::due;
  return st;
}

Summary summarize(const std::vector<ImageStatus>& images) {
  Summary s;
  s.images = images.size();
  for (const auto& i : images) {
    switch (i.rebuild) {
      case Rebuild::due: ++s.due; break;
      case Rebuild::waiting: ++s.waiting; break;
      case Rebuild::unknown: ++s.unknown; break;
      case Rebuild::current: ++s.current; break;
      case Rebuild::never_built: ++s.never_built; break;
      case Rebuild::not_analyzed: ++s.not_analyzed; break;
      case Rebuild::external: ++s.external; break;
    }
    if (i.scan) ++s.scanned;
    if (i.scan_failing()) ++s.scan_failing;
  }
  return s;
}

std::string render_json(const std::vector<ImageStatus>& images) {
  using oj = nlohmann::ordered_json;
  auto opt = [](const std::optional<std::string>& v) { return v ? oj(*v) : oj(nullptr); };
  oj list = oj::array();
  for (const auto& i : images) {
    oj bases = oj::array();
    for (const auto& b : i.bases) {
      oj jb = oj::object();
      jb["name"] = b.name;
      jb["reference"] = b.reference;
      jb["digest"] = opt(b.digest);
      jb["changedSinceBuild"] = b.changed == Change::unknown ? oj(nullptr) : oj(b.changed == Change::yes);
      jb["rebuildEligibleAt"] = opt(b.eligible_at);
      bases.push_back(std::move(jb));
    }
    oj scan = nullptr;
    if (i.scan) {
      const ScanRecord& s = *i.scan;
      oj counts = oj::object();
      for (std::size_t k = 0; k < kSeverityNames.size(); ++k) counts[std::string(kSeverityNames[k])] = s.counts[k];
      scan = oj::object();
      scan["scannedAt"] = opt(s.scanned_at);
      scan["reference"] = opt(s.reference);
      scan["counts"] = std::move(counts);
      scan["misconfigurations"] = s.misconfigurations;
      scan["secrets"] = s.secrets;
      scan["policy"] = {{"failOn", opt(s.fail_on)}, {"passed", s.passed}};
    }
    oj j = oj::object();
    j["name"] = i.name;
    j["currentVersion"] = opt(i.version);
    j["currentDigest"] = opt(i.digest);
    j["lastBuilt"] = opt(i.last_built);
    j["rebuildDue"] = i.rebuild_due;
    j["baseImages"] = std::move(bases);
    j["lastScan"] = std::move(scan);
    list.push_back(std::move(j));
  }
  oj root = oj::object();
  root["images"] = std::move(list);
  return root.dump(2, ' ', false, oj::error_handler_t::replace) + "\n";
}

}  // namespace imgf::status
