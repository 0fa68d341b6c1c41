#pragma once
// Can this machine run the binaries of a target platform? buildah runs a foreign platform's
// RUN steps through the kernel's binfmt_misc handler (qemu-user-static, registered with the F
// flag so it works inside the build's chroot). Without one, every RUN fails deep inside
// buildah with "exec format error"; `build` asks first and names the platform and the fix.
//
// Two probes:
//   exec     a tiny static ELF of the platform (exit(0), built in memory, written to a temp
//            file) is started: ENOEXEC means no handler. Authoritative, and it works where
//            binfmt_misc is not mounted (most containers, a Kubernetes pod).
//   listing  /proc/sys/fs/binfmt_misc: the enabled entries whose magic/mask match the
//            platform's ELF header; used for the message, and for platforms without an exec
//            probe (when mounted).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imgf::proc {
class Runner;
}

namespace imgf::binfmt {

// One entry of binfmt_misc (a file other than register/status).
struct Entry {
  std::string name;
  bool enabled = false;
  std::string interpreter;
  std::string flags;  // e.g. "POCF"
  std::size_t offset = 0;
  std::vector<std::uint8_t> magic, mask;  // empty for extension entries
};

struct Listing {
  bool mounted = false;         // a binfmt_misc file system (has register or status)
  bool globally_enabled = true; // status says enabled
  std::vector<Entry> entries;
};

// Reads a binfmt_misc directory (default /proc/sys/fs/binfmt_misc). Unreadable entries are
// skipped; a missing directory reads as not mounted.
Listing read_listing(const std::filesystem::path& dir = "/proc/sys/fs/binfmt_misc");

// The ELF identification of a platform's binaries (class, data, e_machine), or nullopt for a
// platform this module does not know.
struct ElfId {
  std::uint8_t elf_class = 2;  // 1: 32-bit, 2: 64-bit
  std::uint8_t data = 1;       // 1: little endian, 2: big endian
  std::uint16_t machine = 0;
};
std::optional<ElfId> elf_id(std::string_view platform);  // "linux/arm64", "linux/arm/v7" ...

// The first 20 bytes of an executable of that kind (e_type ET_EXEC or ET_DYN).
std::vector<std::uint8_t> elf_header(const ElfId& id, std::uint16_t e_type = 2);

// The enabled entry that would handle the platform's executables, or nullptr.
const Entry* handler_for(const Listing& listing, std::string_view platform);

// A complete static executable for the platform that exits 0 (nullopt: no code for it).
std::optional<std::vector<std::uint8_t>> exit0_program(std::string_view platform);

// Whether `platform` runs natively on a machine of `host_platform` (same architecture, or
// linux/386 on linux/amd64).
bool native(std::string_view platform, std::string_view host_platform);

enum class Support { native, emulated, missing, unknown };
struct Finding {
  std::string platform;
  Support support = Support::unknown;
  std::string detail;  // how it was decided (the entry's name and interpreter, the probe's error)
};

struct ProbeOptions {
  std::filesystem::path binfmt_dir = "/proc/sys/fs/binfmt_misc";
  std::filesystem::path temp_dir;  // for the exec probe; empty: TMPDIR, else /tmp
  bool exec_probe = true;
  proc::Runner* runner = nullptr;  // starts the exec probe; null: proc::SystemRunner
};

// Assesses each platform against this machine (`host_platform`, e.g. linux/amd64).
std::vector<Finding> probe(const std::vector<std::string>& platforms, const std::string& host_platform,
                           const ProbeOptions& options = {});

// Throws imgf::Error (exit 1) naming every platform that is `missing` and how to fix it
// (register qemu-user-static with the F flag on this machine / every node that runs build Jobs,
// or drop the platform from images.yaml `platforms:` / --platform). Logs a warning for
// `unknown` ones.
void require(const std::vector<Finding>& findings, const std::string& image, const std::string& host_platform);

}  // namespace imgf::binfmt
