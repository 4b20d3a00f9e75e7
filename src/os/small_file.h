// Reading a small system file (sysfs, /proc) without allocating: for code
// that runs before any heap exists, or inside the allocator.
//
// Layer: os. Any thread; errno is left as it was.
#pragma once

#include <cstddef>

namespace hakmem::os {

// Reads up to size - 1 bytes of `path` into buf and ends them with a NUL.
// Returns the number of bytes read, or -1 if the file cannot be opened or
// read. One read(2): sysfs and /proc hand a small file over whole.
long read_small_file(const char* path, char* buf, std::size_t size);

}  // namespace hakmem::os
