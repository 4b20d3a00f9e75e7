// Umbrella header of src/tiers.
#pragma once

#include "tiers/allocator.h"
#include "tiers/chunk_map.h"
#include "tiers/heap_registry.h"
#include "tiers/huge.h"
#include "tiers/node_pool.h"
#include "tiers/size_classes.h"
#include "tiers/stats.h"
#include "tiers/superslab.h"
#include "tiers/thread_heap.h"
