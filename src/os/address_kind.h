// What an address is that no allocator of this process claims: for the
// checked library, which says what a program handed to free or realloc
// instead of letting glibc's free crash on it.
//
// Layer: os. Any thread; allocates nothing (reads /proc/self/maps with
// read(2) into a stack buffer, asks the dynamic linker through
// dl_iterate_phdr). Slow: for a misuse about to be reported, never for a
// free that is right.
#pragma once

namespace hakmem::os {

enum class AddressKind {
  kUnmapped,      // no mapping holds it
  kImage,         // in a loaded object's segments: a global or a constant
  kStack,         // in the calling thread's stack, or the main one's
  kMappingStart,  // within 16 bytes of a mapping's start: no block header fits before it
  kMisaligned,    // not 16-byte aligned, as every block of glibc's is
  kMaybeLibcBlock,  // none of those: glibc's own checks decide
};

struct AddressFacts {
  AddressKind kind = AddressKind::kMaybeLibcBlock;
  // For kImage: the object's path ("" for the program itself); it lives as
  // long as the object stays loaded.
  const char* object = "";
};

AddressFacts classify_foreign_address(const void* p);

}  // namespace hakmem::os
