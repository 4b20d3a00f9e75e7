#include "os/thread_exit.h"

#include <pthread.h>

namespace hakmem::os {

namespace {
pthread_key_t g_key;
bool g_key_ready = false;
}  // namespace

bool init_thread_exit_hook(ThreadExitHook hook) {
  if (g_key_ready) return true;
  g_key_ready = pthread_key_create(&g_key, hook) == 0;
  return g_key_ready;
}

void arm_thread_exit_hook(void* value) {
  // pthread_setspecific allocates a second-level block only for keys >= 32;
  // our key is created at start-up, so it is almost always below that. If it
  // does allocate, the caller has already installed the thread's heap, so the
  // allocation is served normally.
  if (g_key_ready) pthread_setspecific(g_key, value);
}

}  // namespace hakmem::os
