// Umbrella header of src/config.
#pragma once

#include "config/options.h"
