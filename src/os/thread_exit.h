// A hook that runs when a thread exits, registered without allocating.
//
// Layer: os. glibc runs pthread key destructors after the thread's C++
// thread_local destructors (__call_tls_dtors runs first), so a program's TLS
// destructors can still allocate and free while our heap is alive; our hook
// runs afterwards. The key is created once, during global init.
#pragma once

namespace hakmem::os {

using ThreadExitHook = void (*)(void* value);

// Creates the key. Returns false if the process is out of pthread keys.
bool init_thread_exit_hook(ThreadExitHook hook);

// Arms the hook for the calling thread with `value` (non-null). May be called
// again from inside the hook (glibc then runs the destructor pass again, up
// to PTHREAD_DESTRUCTOR_ITERATIONS times).
void arm_thread_exit_hook(void* value);

}  // namespace hakmem::os
