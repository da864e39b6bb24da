// Compiled with only include/ on the include path (no src/, no protocols/): a public header
// that reaches into the private tree fails the build here.
#include "loaddensity/core/clock.hpp"
#include "loaddensity/core/error.hpp"
#include "loaddensity/core/json.hpp"
#include "loaddensity/plugin.h"
#include "loaddensity/protocol/completion.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "loaddensity/stats/histogram.hpp"
#include "loaddensity/stats/live.hpp"
#include "loaddensity/stats/metrics.hpp"
#include "loaddensity/stats/record.hpp"
