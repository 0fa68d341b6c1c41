// libFuzzer target: image references. Any input must either parse or be refused with an
// imgf::Error; a parsed reference must survive a round trip through familiar(), and through
// canonical() (the reference as pulled) up to the implicit :latest that form writes out.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "imgfactory/error.hpp"
#include "imgfactory/reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto r = imgf::reference::try_parse(text, &why);
  if (!r) {
    if (why.empty()) std::abort();  // every refusal names its reason
    try {
      (void)imgf::reference::parse(text);
      std::abort();  // parse must agree with try_parse
    } catch (const imgf::Error&) {
    }
    return 0;
  }
  // The canonical form (as pulled: the implicit :latest written out) parses back to the same
  // reference with that tag, and is its own canonical form.
  auto again = imgf::reference::try_parse(r->canonical());
  if (!again || again->canonical() != r->canonical()) std::abort();
  if (again->domain != r->domain || again->path != r->path || again->digest != r->digest) std::abort();
  if (again->tag != (r->tag.empty() && r->digest.empty() ? "latest" : r->tag)) std::abort();
  auto familiar = imgf::reference::try_parse(r->familiar());
  if (!familiar || familiar->canonical() != r->canonical()) std::abort();
  std::string name = imgf::reference::state_name(text);
  if (name.find_first_of(":/") != std::string::npos) std::abort();
  if (!r->tag.empty() && !imgf::reference::is_valid_tag(r->tag)) std::abort();
  if (!r->digest.empty() && !imgf::reference::is_valid_digest(r->digest)) std::abort();
  return 0;
}
