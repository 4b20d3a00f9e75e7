// A shared object for library_test.cpp to dlopen. It links no allocator of
// its own: malloc, free and operator new/delete resolve to the process's,
// which is hakmem's.
#include <cstddef>
#include <cstdlib>
#include <new>

extern "C" {

// Blocks whose byte i is (i * 7 + seed) mod 256.
__attribute__((visibility("default"))) void* module_malloc(std::size_t bytes, unsigned seed) {
  auto* p = static_cast<unsigned char*>(std::malloc(bytes));
  if (p != nullptr) {
    for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 7 + seed);
  }
  return p;
}

__attribute__((visibility("default"))) void* module_new_array(std::size_t bytes, unsigned seed) {
  auto* p = new unsigned char[bytes];
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 7 + seed);
  return p;
}

__attribute__((visibility("default"))) void module_free(void* p) { std::free(p); }

__attribute__((visibility("default"))) void module_delete_array(void* p) {
  delete[] static_cast<unsigned char*>(p);
}

}  // extern "C"
