#pragma once
// Test helper for the protocols' config tests.
#include <gtest/gtest.h>

#include <string>

#include "loaddensity/core/error.hpp"

namespace ld::proto {

// Runs `fn`, expecting a ConfigError whose pointer is `pointer` and whose text has `text`.
template <class Fn>
void expect_config_error(Fn&& fn, const std::string& pointer, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "no ConfigError; wanted " << pointer << " " << text;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), pointer) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

}  // namespace ld::proto
