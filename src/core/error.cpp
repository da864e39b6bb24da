#include "loaddensity/core/error.hpp"
// ConfigError and Expected are header-only; this TU keeps the library non-empty and is the
// home for out-of-line error helpers as they appear.
namespace ld {}
