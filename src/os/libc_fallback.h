// The C library's own allocator, for pointers hakmem does not own.
//
// Layer: os. Under LD_PRELOAD a program can hand us pointers that glibc's
// malloc made: libraries loaded with RTLD_DEEPBIND bind malloc to glibc's
// but free to ours (or the reverse), and some programs carry blocks from
// before the preload took effect. Those go back to glibc through the entry
// points it exports for exactly this purpose (__libc_free and friends), so no
// dlsym is ever needed on an allocation path.
#pragma once

#include <cstddef>

namespace hakmem::os {

void libc_free(void* p);
void* libc_realloc(void* p, std::size_t bytes);
// glibc exports no __libc_malloc_usable_size; this reads the size from the
// chunk header in front of p, as glibc's malloc_usable_size does
// (malloc/malloc.c: chunksize minus the header word, minus one more word
// for mmapped chunks).
std::size_t libc_usable_size(const void* p);

}  // namespace hakmem::os
