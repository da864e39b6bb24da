// The embedded MQTT broker's topic filter matching and filter validation (MQTT 3.1.1 §4.7).
#include <gtest/gtest.h>

#include "target/mqtt_broker.hpp"

namespace {

using ld::target::mqtt_topic_matches;
using ld::target::mqtt_valid_filter;

TEST(MqttTopic, ExactLevelsMatchOnlyThemselves) {
  EXPECT_TRUE(mqtt_topic_matches("a/b", "a/b"));
  EXPECT_FALSE(mqtt_topic_matches("a/b", "a/b/c"));
  EXPECT_FALSE(mqtt_topic_matches("a/b/c", "a/b"));
  EXPECT_FALSE(mqtt_topic_matches("a/b", "a/c"));
  EXPECT_TRUE(mqtt_topic_matches("a//b", "a//b"));  // empty levels are levels
  EXPECT_FALSE(mqtt_topic_matches("a/b", "a/b/"));
}

TEST(MqttTopic, PlusMatchesExactlyOneLevel) {
  EXPECT_TRUE(mqtt_topic_matches("a/+/c", "a/b/c"));
  EXPECT_TRUE(mqtt_topic_matches("a/+/c", "a//c"));
  EXPECT_FALSE(mqtt_topic_matches("a/+/c", "a/b/x/c"));
  EXPECT_TRUE(mqtt_topic_matches("+", "a"));
  EXPECT_FALSE(mqtt_topic_matches("+", "a/b"));
  EXPECT_TRUE(mqtt_topic_matches("+/+", "/a"));
  EXPECT_TRUE(mqtt_topic_matches("a/+", "a/"));
}

TEST(MqttTopic, HashMatchesTheRestAndTheParent) {
  EXPECT_TRUE(mqtt_topic_matches("#", "a/b/c"));
  EXPECT_TRUE(mqtt_topic_matches("a/#", "a"));
  EXPECT_TRUE(mqtt_topic_matches("a/#", "a/b"));
  EXPECT_TRUE(mqtt_topic_matches("a/#", "a/b/c"));
  EXPECT_FALSE(mqtt_topic_matches("a/#", "ab"));
  EXPECT_FALSE(mqtt_topic_matches("a/b/#", "a"));
  EXPECT_TRUE(mqtt_topic_matches("+/b/#", "x/b"));
}

TEST(MqttTopic, WildcardsAtTheFirstLevelSkipDollarTopics) {
  EXPECT_FALSE(mqtt_topic_matches("#", "$SYS/load"));
  EXPECT_FALSE(mqtt_topic_matches("+/load", "$SYS/load"));
  EXPECT_TRUE(mqtt_topic_matches("$SYS/#", "$SYS/load"));
  EXPECT_TRUE(mqtt_topic_matches("a/#", "a/$b"));
}

TEST(MqttTopic, FilterValidation) {
  for (const char* ok : {"a", "a/b", "#", "+", "a/+/b", "a/#", "+/+/#", "/", "a//b"}) {
    EXPECT_TRUE(mqtt_valid_filter(ok)) << ok;
  }
  for (const char* bad : {"", "a/#/b", "a#", "a/b+", "#/a", "a/+b/c", "##"}) {
    EXPECT_FALSE(mqtt_valid_filter(bad)) << bad;
  }
}

}  // namespace
