// Umbrella header of src/numa.
#pragma once

#include "numa/binding.h"
#include "numa/topology.h"
