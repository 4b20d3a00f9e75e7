// Twenty ways a buggy program misuses malloc, one per run: `misuse_cases
// NAME` commits misuse NAME and, if the allocator let it pass, shows what the
// heap does next and exits 0. `misuse_cases --list` prints the names.
//
// The program links no allocator of its own: run bare it meets glibc's
// malloc, under LD_PRELOAD the library's. misuse_test.cpp runs every case
// under each and compares how the runs end.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

#include "case_program.h"

namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

// Through a volatile, so that the compiler sees neither the double free
// nor the interior pointer and emits the calls as written.
void* opaque(void* p) {
  void* volatile v = p;
  return v;
}

void* filled_block(std::size_t n) {
  void* p = malloc(n);
  if (p == nullptr) {
    perror("malloc");
    exit(2);
  }
  memset(p, 0, n);
  return p;
}

// What the heap hands out after the misuse: a corrupted free list gives the
// same address twice, or an address inside a live block.
void show_aftermath(std::size_t n) {
  void* a = malloc(n);
  void* b = malloc(n);
  void* c = malloc(n);
  printf("survived; next blocks %p %p %p%s\n", a, b, c, (a == b || b == c || a == c) ? " (repeated)" : "");
}

void double_free(std::size_t n) {
  void* p = filled_block(n);
  free(p);
  free(opaque(p));
  show_aftermath(n);
}

void free_interior(std::size_t n, std::size_t offset) {
  char* p = static_cast<char*>(filled_block(n));
  free(opaque(p + offset));
  show_aftermath(n);
}

void* free_on_another_thread(void* p) {
  free(p);
  return nullptr;
}

void double_free_first_on_another_thread() {
  void* p = filled_block(64);
  pthread_t t;
  if (pthread_create(&t, nullptr, free_on_another_thread, p) != 0 || pthread_join(t, nullptr) != 0) exit(2);
  free(opaque(p));
  show_aftermath(64);
}

void realloc_freed() {
  void* p = filled_block(100);
  free(p);
  void* q = realloc(opaque(p), 200);
  printf("survived; realloc gave %p\n", q);
}

void realloc_interior() {
  char* p = static_cast<char*>(filled_block(1000));
  void* q = realloc(opaque(p + 16), 2000);
  printf("survived; realloc gave %p\n", q);
}

void free_stack() {
  char on_stack[256];
  memset(on_stack, 0, sizeof on_stack);
  free(opaque(on_stack + 64));
  printf("survived\n");
}

char g_global[4096];

void free_global() {
  free(opaque(g_global + 64));
  printf("survived\n");
}

void free_mmapped() {
  void* m = mmap(nullptr, 64 * kKiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) exit(2);
  free(opaque(m));
  printf("survived\n");
}

struct Case {
  const char* name;
  void (*run)();
};

const Case kCases[] = {
    {"double_free_16", [] { double_free(16); }},
    {"double_free_64", [] { double_free(64); }},
    {"double_free_1000", [] { double_free(1000); }},
    {"double_free_16k", [] { double_free(16 * kKiB); }},
    {"double_free_200k", [] { double_free(200 * kKiB); }},
    {"double_free_1m", [] { double_free(1 * kMiB); }},
    {"double_free_40m", [] { double_free(40 * kMiB); }},
    {"double_free_first_on_another_thread", double_free_first_on_another_thread},
    {"free_interior_64_plus_1", [] { free_interior(64, 1); }},
    {"free_interior_64_plus_8", [] { free_interior(64, 8); }},
    {"free_interior_64_plus_16", [] { free_interior(64, 16); }},
    {"free_interior_1000_plus_512", [] { free_interior(1000, 512); }},
    {"free_interior_16k_plus_4k", [] { free_interior(16 * kKiB, 4 * kKiB); }},
    {"free_interior_1m_plus_4k", [] { free_interior(1 * kMiB, 4 * kKiB); }},
    {"free_interior_40m_plus_64k", [] { free_interior(40 * kMiB, 64 * kKiB); }},
    {"realloc_freed", realloc_freed},
    {"realloc_interior", realloc_interior},
    {"free_stack", free_stack},
    {"free_global", free_global},
    {"free_mmapped", free_mmapped},
};

}  // namespace

int main(int argc, char** argv) {
  return hakmem::test_cases::case_program_main(argc, argv, kCases, [](const Case& c) { c.run(); });
}
