// binfmt_misc probes: can this machine run a target platform's binaries? See binfmt.hpp.
#include "imgfactory/binfmt.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "imgfactory/error.hpp"
#include "imgfactory/fsutil.hpp"
#include "imgfactory/process.hpp"

namespace imgf::binfmt {
namespace fs = std::filesystem;
namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    const int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

std::string arch_of(std::string_view platform) {
  const auto a = platform.find('/');
  if (a == std::string_view::npos) return std::string(platform);
  const auto b = platform.find('/', a + 1);
  return std::string(platform.substr(a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1));
}

// Little helpers to lay out an ELF file in either byte order.
struct Writer {
  bool le = true;
  std::vector<std::uint8_t> bytes;
  void u8(std::uint8_t v) { bytes.push_back(v); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      const int shift = le ? 8 * i : 8 * (n - 1 - i);
      bytes.push_back(static_cast<std::uint8_t>((v >> shift) & 0xff));
    }
  }
};

void ident(Writer& w, const ElfId& id) {
  for (std::uint8_t b : {0x7f, 'E', 'L', 'F'}) w.u8(b);
  w.u8(id.elf_class);
  w.u8(id.data);
  w.u8(1);  // EV_CURRENT
  for (int i = 0; i < 9; ++i) w.u8(0);  // OS ABI (System V), ABI version, padding
}

// exit(0) as machine code, in the byte order of the platform.
std::optional<std::vector<std::uint8_t>> exit0_code(const std::string& arch, const ElfId& id) {
  Writer w;
  w.le = id.data == 1;
  if (arch == "amd64") {
    w.bytes = {0x31, 0xff, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05};  // xor edi,edi; mov eax,60; syscall
  } else if (arch == "386") {
    w.bytes = {0x31, 0xdb, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xcd, 0x80};  // xor ebx,ebx; mov eax,1; int 0x80
  } else if (arch == "arm64") {
    for (std::uint32_t insn : {0xd2800000u, 0xd2800ba8u, 0xd4000001u}) w.u32(insn);  // mov x0,#0; mov x8,#93; svc #0
  } else if (arch == "arm") {
    for (std::uint32_t insn : {0xe3a00000u, 0xe3a07001u, 0xef000000u}) w.u32(insn);  // mov r0,#0; mov r7,#1; svc #0
  } else if (arch == "riscv64") {
    for (std::uint32_t insn : {0x00000513u, 0x05d00893u, 0x00000073u}) w.u32(insn);  // li a0,0; li a7,93; ecall
  } else if (arch == "ppc64le") {
    for (std::uint32_t insn : {0x38000001u, 0x38600000u, 0x44000002u}) w.u32(insn);  // li r0,1; li r3,0; sc
  } else if (arch == "s390x") {
    w.bytes = {0xa7, 0x29, 0x00, 0x00, 0x0a, 0x01};  // lghi %r2,0; svc 1
  } else {
    return std::nullopt;
  }
  return w.bytes;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n  ") + l;
  return out;
}

}  // namespace

Listing read_listing(const fs::path& dir) {
  Listing l;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return l;
  l.mounted = fs::exists(dir / "register", ec) || fs::exists(dir / "status", ec);
  if (!l.mounted) return l;
  {
    std::ifstream st(dir / "status");
    std::string word;
    if (st >> word) l.globally_enabled = word == "enabled";
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == "register" || name == "status") continue;
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) continue;
    Entry entry;
    entry.name = f.filename().string();
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string key, value;
      words >> key;
      std::getline(words >> std::ws, value);
      if (key == "enabled") entry.enabled = true;
      else if (key == "interpreter") entry.interpreter = value;
      else if (key == "flags:") entry.flags = value;
      else if (key == "offset") entry.offset = static_cast<std::size_t>(std::strtoul(value.c_str(), nullptr, 10));
      else if (key == "magic") entry.magic = from_hex(value);
      else if (key == "mask") entry.mask = from_hex(value);
    }
    l.entries.push_back(std::move(entry));
  }
  return l;
}

std::optional<ElfId> elf_id(std::string_view platform) {
  const std::string arch = arch_of(platform);
  if (arch == "amd64") return ElfId{2, 1, 0x3e};
  if (arch == "arm64") return ElfId{2, 1, 0xb7};
  if (arch == "386") return ElfId{1, 1, 0x03};
  if (arch == "arm") return ElfId{1, 1, 0x28};
  if (arch == "ppc64le") return ElfId{2, 1, 0x15};
  if (arch == "s390x") return ElfId{2, 2, 0x16};
  if (arch == "riscv64") return ElfId{2, 1, 0xf3};
  if (arch == "mips64le") return ElfId{2, 1, 0x08};
  if (arch == "loong64") return ElfId{2, 1, 0x102};
  return std::nullopt;
}

std::vector<std::uint8_t> elf_header(const ElfId& id, std::uint16_t e_type) {
  Writer w;
  w.le = id.data == 1;
  ident(w, id);
  w.u16(e_type);
  w.u16(id.machine);
  return w.bytes;
}

const Entry* handler_for(const Listing& listing, std::string_view platform) {
  if (!listing.mounted || !listing.globally_enabled) return nullptr;
  const auto id = elf_id(platform);
  if (!id) return nullptr;
  for (const auto& e : listing.entries) {
    if (!e.enabled || e.magic.empty()) continue;
    for (std::uint16_t type : {std::uint16_t{2}, std::uint16_t{3}}) {
      const auto hdr = elf_header(*id, type);
      bool ok = e.offset + e.magic.size() <= hdr.size();
      for (std::size_t i = 0; ok && i < e.magic.size(); ++i) {
        const std::uint8_t m = i < e.mask.size() ? e.mask[i] : 0xff;
        ok = (hdr[e.offset + i] & m) == (e.magic[i] & m);
      }
      if (ok) return &e;
    }
  }
  return nullptr;
}

std::optional<std::vector<std::uint8_t>> exit0_program(std::string_view platform) {
  const auto id = elf_id(platform);
  if (!id) return std::nullopt;
  const auto code = exit0_code(arch_of(platform), *id);
  if (!code) return std::nullopt;
  Writer w;
  w.le = id->data == 1;
  const bool is64 = id->elf_class == 2;
  const std::uint64_t base = 0x400000;
  const std::uint64_t ehsize = is64 ? 64 : 52, phsize = is64 ? 56 : 32;
  const std::uint64_t entry = base + ehsize + phsize;
  const std::uint64_t total = ehsize + phsize + code->size();
  std::uint32_t flags = 0;
  if (arch_of(platform) == "arm") flags = 0x05000000;      // EABI version 5
  if (arch_of(platform) == "ppc64le") flags = 2;           // ELFv2 ABI
  ident(w, *id);
  w.u16(2);  // ET_EXEC
  w.u16(id->machine);
  w.u32(1);
  if (is64) {
    w.u64(entry);
    w.u64(ehsize);  // e_phoff
    w.u64(0);       // e_shoff
  } else {
    w.u32(static_cast<std::uint32_t>(entry));
    w.u32(static_cast<std::uint32_t>(ehsize));
    w.u32(0);
  }
  w.u32(flags);
  w.u16(static_cast<std::uint16_t>(ehsize));
  w.u16(static_cast<std::uint16_t>(phsize));
  w.u16(1);  // e_phnum
  w.u16(0);
  w.u16(0);
  w.u16(0);
  // one PT_LOAD, read + execute, the whole file at `base`
  if (is64) {
    w.u32(1);
    w.u32(5);
    w.u64(0);
    w.u64(base);
    w.u64(base);
    w.u64(total);
    w.u64(total);
    w.u64(0x1000);
  } else {
    w.u32(1);
    w.u32(0);
    w.u32(static_cast<std::uint32_t>(base));
    w.u32(static_cast<std::uint32_t>(base));
    w.u32(static_cast<std::uint32_t>(total));
    w.u32(static_cast<std::uint32_t>(total));
    w.u32(5);
    w.u32(0x1000);
  }
  w.bytes.insert(w.bytes.end(), code->begin(), code->end());
  return w.bytes;
}

bool native(std::string_view platform, std::string_view host_platform) {
  const std::string a = arch_of(platform), h = arch_of(host_platform);
  return a == h || (a == "386" && h == "amd64");
}

std::vector<Finding> probe(const std::vector<std::string>& platforms, const std::string& host_platform,
                           const ProbeOptions& o) {
  std::vector<Finding> out;
  std::optional<Listing> listing;
  auto get_listing = [&]() -> const Listing& {
    if (!listing) listing = read_listing(o.binfmt_dir);
    return *listing;
  };
  for (const auto& p : platforms) {
    Finding f;
    f.platform = p;
    if (native(p, host_platform)) {
      f.support = Support::native;
      f.detail = "native on " + host_platform;
      out.push_back(std::move(f));
      continue;
    }
    // exec probe
    std::string exec_note;
    const auto program = o.exec_probe ? exit0_program(p) : std::nullopt;
    if (program) {
      fs::path dir = o.temp_dir;
      if (dir.empty()) {
        const char* t = std::getenv("TMPDIR");
        dir = t && *t ? fs::path(t) : fs::path("/tmp");
      }
      std::string tmpl = (dir / "imgfactory-binfmt-XXXXXX").string();
      const int fd = ::mkstemp(tmpl.data());
      if (fd < 0) {
        exec_note = "cannot create a probe in " + dir.string() + ": " + std::strerror(errno);
      } else {
        const auto* data = program->data();
        std::size_t left = program->size();
        bool ok = true;
        while (left > 0 && ok) {
          const ssize_t n = ::write(fd, data, left);
          ok = n > 0;
          if (ok) {
            data += n;
            left -= static_cast<std::size_t>(n);
          }
        }
        ok = ::fchmod(fd, 0700) == 0 && ok;
        ::close(fd);
        if (ok) {
          proc::SystemRunner system;
          proc::Spec spec;
          spec.argv = {tmpl};
          spec.timeout = std::chrono::milliseconds(20000);
          const proc::Result r = (o.runner ? *o.runner : static_cast<proc::Runner&>(system)).run(spec);
          if (!r.spawn_failed) {
            f.support = Support::emulated;
            const Entry* e = handler_for(get_listing(), p);
            f.detail = e ? "binfmt_misc entry " + e->name + " (" + e->interpreter + ")" : "a probe binary ran";
          } else if (r.spawn_error.find(std::strerror(ENOEXEC)) != std::string::npos) {
            f.support = Support::missing;
            f.detail = "the kernel refuses " + p + " executables (exec format error): no binfmt_misc handler";
          } else if (r.spawn_error.find(std::strerror(ENOENT)) != std::string::npos) {
            f.support = Support::missing;
            f.detail = "a binfmt_misc handler exists but its interpreter is not in this file system "
                       "(registered without the F flag)";
          } else {
            exec_note = "the probe could not be started: " + r.spawn_error;
          }
        } else {
          exec_note = "cannot write the probe " + tmpl;
        }
        std::error_code ec;
        fs::remove(tmpl, ec);
      }
    }
    if (f.support == Support::unknown) {
      const Listing& l = get_listing();
      if (l.mounted) {
        if (const Entry* e = handler_for(l, p)) {
          f.support = Support::emulated;
          f.detail = "binfmt_misc entry " + e->name + " (" + e->interpreter + ")";
        } else {
          f.support = Support::missing;
          f.detail = l.globally_enabled ? "no enabled binfmt_misc entry in " + o.binfmt_dir.string() + " matches " + p
                                        : "binfmt_misc is disabled (" + (o.binfmt_dir / "status").string() + ")";
        }
      } else {
        f.detail = (exec_note.empty() ? "no probe binary for " + p : exec_note) + ", and " + o.binfmt_dir.string() +
                   " is not mounted";
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

void require(const std::vector<Finding>& findings, const std::string& image, const std::string& host_platform) {
  std::vector<std::string> missing, details;
  for (const auto& f : findings) {
    if (f.support == Support::missing) {
      missing.push_back(f.platform);
      details.push_back(f.platform + ": " + f.detail);
    } else if (f.support == Support::unknown) {
      spdlog::warn("cannot tell whether this machine runs {} binaries ({}); RUN steps for it need qemu binfmt",
                   f.platform, f.detail);
    } else {
      spdlog::debug("platform {}: {}", f.platform, f.detail);
    }
  }
  if (missing.empty()) return;
  std::string list;
  for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  throw failure("cannot build " + image + " for " + list + " on this " + host_platform +
                    " machine: it cannot run " + list + " binaries (no qemu binfmt_misc handler), so every RUN step "
                    "would fail",
                {}, 0,
                join_lines(details) +
                    "\n  fix: register qemu-user-static in binfmt_misc with the F flag on this machine (every node "
                    "that runs build Jobs), e.g. `apt-get install qemu-user-static` (Debian/Ubuntu) or `docker run "
                    "--privileged --rm tonistiigi/binfmt --install all`; or drop " +
                    list + " from the image's `platforms:` in images.yaml (or pass --platform)");
}

}  // namespace imgf::binfmt
