// Error text made at run time: interned once per process, the same pointer from any thread,
// cut at the length bound, and past the count bound one fixed message.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "stats/recorder.hpp"

namespace ld::stats {
namespace {

TEST(ErrorTextTest, SameTextSamePointerFromEveryThreadAndWorker) {
  const char* a = intern_error_text("UNAVAILABLE: connection refused");
  EXPECT_STREQ(a, "UNAVAILABLE: connection refused");
  const char* from_thread = nullptr;
  std::thread([&] { from_thread = intern_error_text("UNAVAILABLE: connection refused"); }).join();
  EXPECT_EQ(from_thread, a);
  WorkerStats w1(1), w2(1);
  EXPECT_EQ(w1.intern_text("UNAVAILABLE: connection refused"), a);
  EXPECT_EQ(w2.intern_text(std::string("UNAVAILABLE: ") + "connection refused"), a);
  EXPECT_EQ(w1.intern_text("UNAVAILABLE: connection refused"), a);  // from w1's cache
  EXPECT_NE(w1.intern_text("DEADLINE_EXCEEDED"), a);
}

TEST(ErrorTextTest, LongTextIsCut) {
  const std::string long_text(2000, 'x');
  const char* p = intern_error_text(long_text);
  EXPECT_EQ(std::string(p).size(), kMaxErrorTextLength);
  EXPECT_EQ(intern_error_text(long_text.substr(0, kMaxErrorTextLength)), p);
}

TEST(ErrorTextTest, PastTheBoundEveryNewTextIsOneFixedMessage) {
  WorkerStats w(1);
  const char* first = w.intern_text("distinct 0");
  for (std::size_t i = 1; i < 2 * kMaxErrorTexts; ++i) {
    w.intern_text("distinct " + std::to_string(i));
  }
  EXPECT_EQ(w.intern_text("one more"), kErrorTextDropped);
  EXPECT_EQ(intern_error_text("and another"), kErrorTextDropped);
  // Texts stored before the bound keep their pointers.
  EXPECT_EQ(w.intern_text("distinct 0"), first);
  EXPECT_STREQ(first, "distinct 0");
}

}  // namespace
}  // namespace ld::stats
