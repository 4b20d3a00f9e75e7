#include "os/address_kind.h"

#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace hakmem::os {

namespace {

struct ImageSearch {
  std::uintptr_t address;
  const char* object;
  bool found;
};

int find_image(dl_phdr_info* info, std::size_t, void* data) {
  auto* search = static_cast<ImageSearch*>(data);
  for (unsigned i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    if (search->address >= begin && search->address - begin < ph.p_memsz) {
      search->object = info->dlpi_name != nullptr ? info->dlpi_name : "";
      search->found = true;
      return 1;
    }
  }
  return 0;
}

std::uintptr_t parse_hex(const char*& s, const char* end) {
  std::uintptr_t v = 0;
  for (; s < end; ++s) {
    const char c = *s;
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) break;
    v = v * 16 + static_cast<std::uintptr_t>(digit);
  }
  return v;
}

struct Mapping {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  bool is_stack = false;  // labelled [stack]
};

// Calls on_line(mapping) for each line of /proc/self/maps until it returns
// true. False if the file cannot be read.
template <typename OnMapping>
bool for_each_mapping(OnMapping on_mapping) {
  const int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  std::size_t kept = 0;  // bytes of a line cut by the last read, moved to the front
  bool done = false;
  while (!done) {
    const ssize_t n = ::read(fd, buf + kept, sizeof buf - kept);
    if (n <= 0) break;
    const char* end = buf + kept + n;
    const char* line = buf;
    for (const char* nl; !done && (nl = static_cast<const char*>(std::memchr(line, '\n', end - line))) != nullptr;
         line = nl + 1) {
      Mapping m;
      const char* s = line;
      m.begin = parse_hex(s, nl);
      if (s < nl && *s == '-') ++s;
      m.end = parse_hex(s, nl);
      m.is_stack = nl - line >= 7 && std::memcmp(nl - 7, "[stack]", 7) == 0;
      done = on_mapping(m);
    }
    kept = static_cast<std::size_t>(end - line);
    if (kept == sizeof buf) break;  // a line longer than the buffer: give up
    std::memmove(buf, line, kept);
  }
  ::close(fd);
  return true;
}

}  // namespace

AddressFacts classify_foreign_address(const void* p) {
  const int saved = errno;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  AddressFacts facts;
  ImageSearch image{a, "", false};
  const char here = 0;
  const auto sp = reinterpret_cast<std::uintptr_t>(&here);
  Mapping holder;
  Mapping stack;
  bool held = false;
  if (dl_iterate_phdr(find_image, &image) != 0 && image.found) {
    facts.kind = AddressKind::kImage;
    facts.object = image.object;
  } else if (for_each_mapping([&](const Mapping& m) {
               if (a >= m.begin && a < m.end) {
                 holder = m;
                 held = true;
               }
               if (sp >= m.begin && sp < m.end) stack = m;
               return held && stack.end != 0;
             })) {
    if (!held) {
      facts.kind = AddressKind::kUnmapped;
    } else if (holder.is_stack || holder.begin == stack.begin) {
      facts.kind = AddressKind::kStack;
    } else if (a - holder.begin < 16) {
      facts.kind = AddressKind::kMappingStart;
    } else if (a % 16 != 0) {
      facts.kind = AddressKind::kMisaligned;
    }
  }
  errno = saved;
  return facts;
}

}  // namespace hakmem::os
