// Umbrella header of the OS layer (src/os): what other modules include.
#pragma once

#include "os/clock.h"
#include "os/meta_arena.h"
#include "os/pages.h"
#include "os/thread_exit.h"
#include "os/libc_fallback.h"
