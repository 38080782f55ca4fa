// The product threads moved to core/kernels/parallel.h; this name stays for code that includes it.
#pragma once

#include <tapegrad/core/kernels/parallel.h>
