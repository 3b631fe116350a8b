// pfsd's log rate limiter, on an injected clock.
#include "core/daemon/rate_limiter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace pfs::daemon {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

class RateLimiterTest : public ::testing::Test {
 protected:
  Clock::time_point now_{};
  RateLimiter limiter_{3, seconds(10), [this] { return now_; }, 4};
  std::vector<RateLimiter::Suppressed> ended_;

  int admitted(const std::string& msg, int times) {
    int n = 0;
    for (int i = 0; i < times; ++i) n += limiter_.admit(msg + " " + std::to_string(i), ended_);
    return n;
  }
};

TEST(MessageClassTest, NumbersAreOneClass) {
  EXPECT_EQ(message_class("queue 0: dropped chain with head 17: bad"),
            "queue #: dropped chain with head #: bad");
  EXPECT_EQ(message_class("gpa 0x7f00abc size 0X10"), "gpa # size #");
  EXPECT_EQ(message_class("no numbers"), "no numbers");
  EXPECT_EQ(message_class(std::string(1000, 'a')).size(), kMaxClassLength);
}

TEST_F(RateLimiterTest, BurstThenSuppressedUntilTheIntervalEnds) {
  EXPECT_EQ(admitted("refused request", 100), 3);
  EXPECT_TRUE(ended_.empty());
  EXPECT_TRUE(limiter_.expire().empty()) << "the interval has not ended";
  now_ += seconds(9);
  EXPECT_EQ(admitted("refused request", 5), 0);
  now_ += seconds(1);
  const auto summaries = limiter_.expire();
  ASSERT_EQ(summaries.size(), 1u);
  EXPECT_EQ(summaries[0].count, 102u);
  EXPECT_EQ(summaries[0].message_class, "refused request #");
  // A fresh interval: the burst again.
  EXPECT_EQ(admitted("refused request", 10), 3);
}

TEST_F(RateLimiterTest, TheNextLineAfterTheIntervalReportsTheSuppressedOnes) {
  EXPECT_EQ(admitted("bad chain", 7), 3);
  now_ += seconds(11);
  EXPECT_TRUE(limiter_.admit("bad chain 99", ended_));
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].count, 4u);
}

TEST_F(RateLimiterTest, ClassesAreLimitedApart) {
  EXPECT_EQ(admitted("one kind", 10), 3);
  EXPECT_EQ(admitted("another kind", 10), 3);
  const auto all = limiter_.expire(/*all=*/true);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(limiter_.expire(/*all=*/true).empty()) << "each suppressed line is reported once";
}

TEST_F(RateLimiterTest, FurtherClassesShareOneWindowSoMemoryIsBounded) {
  // max_classes is 4: the 5th and later distinct classes share one budget.
  int written = 0;
  for (const char* c : {"a", "b", "c", "d", "e", "f", "g", "h"}) written += admitted(c, 1);
  EXPECT_EQ(written, 4 + 3);
  const auto all = limiter_.expire(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].count, 1u);
}

TEST_F(RateLimiterTest, NothingSuppressedNothingReported) {
  EXPECT_EQ(admitted("quiet", 2), 2);
  now_ += seconds(60);
  EXPECT_TRUE(limiter_.expire().empty());
  EXPECT_TRUE(limiter_.expire(true).empty());
}

}  // namespace
}  // namespace pfs::daemon
