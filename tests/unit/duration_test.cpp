// The one duration grammar (rebuildDelay, --git-timeout, build --timeout/--retry-delay, scan
// --timeout, healthcheck --timeout); each caller's limits are tested with that caller.
#include "imgfactory/duration.hpp"

#include <gtest/gtest.h>

#include <string>

using std::chrono::milliseconds;
namespace d = imgf::duration;

TEST(Duration, Units) {
  EXPECT_EQ(d::parse("1500ms"), milliseconds(1500));
  EXPECT_EQ(d::parse("90s"), milliseconds(90'000));
  EXPECT_EQ(d::parse("30m"), milliseconds(1'800'000));
  EXPECT_EQ(d::parse("12h"), milliseconds(43'200'000));
  EXPECT_EQ(d::parse("7d"), milliseconds(604'800'000));
  EXPECT_EQ(d::parse("2w"), milliseconds(1'209'600'000));
  EXPECT_EQ(d::parse("0s"), milliseconds(0));  // limits are the caller's
}

TEST(Duration, SequencesFractionsAndBareSeconds) {
  EXPECT_EQ(d::parse("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(d::parse("1m30s500ms"), milliseconds(90'500));
  EXPECT_EQ(d::parse("1d12h"), milliseconds(129'600'000));
  EXPECT_EQ(d::parse("2.5s"), milliseconds(2500));
  EXPECT_EQ(d::parse(".5s"), milliseconds(500));
  EXPECT_EQ(d::parse("1.5h"), milliseconds(5'400'000));
  EXPECT_EQ(d::parse("0.0004s"), milliseconds(0));  // rounded to the millisecond
  EXPECT_EQ(d::parse("45"), milliseconds(45'000));
  EXPECT_EQ(d::parse("2.5"), milliseconds(2500));
  EXPECT_EQ(d::parse(" 90s\n"), milliseconds(90'000));  // blanks around, as a file or env value has
}

TEST(Duration, RefusalsSayWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"  ", "empty"},
      {"s", "expected a number"},
      {"-1s", "expected a number"},
      {"+1s", "expected a number"},
      {"1s-", "expected a number"},
      {"1.2.3s", "malformed number"},
      {".s", "malformed number"},
      {"1234567890123456789s", "malformed number"},
      {"5 s", "missing unit"},
      {"1m5", "missing unit"},
      {"10x", "unknown unit 'x'"},
      {"1y", "unknown unit 'y'"},
      {"5S", "unknown unit 'S'"},
      {"5sec", "unknown unit 'sec'"},
      {"1d 2h", "expected a number"},
      {"5300w", "too long"},
      {"99999999999999d", "too long"},
  };
  for (const auto& [text, reason] : cases) {
    std::string why;
    EXPECT_FALSE(d::parse(text, &why)) << text;
    EXPECT_EQ(why, reason) << "'" << text << "'";
  }
}

TEST(Duration, BareNumbersCanBeRefused) {
  std::string why;
  EXPECT_FALSE(d::parse("7", &why, d::Bare::refused));
  EXPECT_EQ(why, "missing unit");
  EXPECT_EQ(d::parse("7d", &why, d::Bare::refused), milliseconds(604'800'000));
}
