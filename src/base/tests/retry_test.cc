#include "base/retry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

namespace strata {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesFromMinAndStaysAtMax) {
  Backoff b({.min = milliseconds(100), .max = milliseconds(1000)});
  const std::vector<milliseconds> expected = {
      milliseconds(100),  milliseconds(200),  milliseconds(400), milliseconds(800),
      milliseconds(1000), milliseconds(1000), milliseconds(1000)};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(b.upcoming(), expected[i]) << i;
    EXPECT_EQ(b.failures(), i);
    EXPECT_EQ(b.Next(), expected[i]) << i;
  }
  EXPECT_EQ(b.failures(), expected.size());
}

TEST(Backoff, MaxThatIsNotAPowerOfTwoOfMinIsReachedExactly) {
  Backoff b({.min = milliseconds(200), .max = milliseconds(30'000)});
  milliseconds last{0};
  for (int i = 0; i < 20; ++i) last = b.Next();
  EXPECT_EQ(last, milliseconds(30'000));
  EXPECT_EQ(b.upcoming(), milliseconds(30'000));
}

TEST(Backoff, ResetStartsAgainFromMinAndClearsFailures) {
  Backoff b({.min = milliseconds(10), .max = milliseconds(80)});
  for (int i = 0; i < 5; ++i) (void)b.Next();
  EXPECT_EQ(b.failures(), 5u);
  EXPECT_EQ(b.upcoming(), milliseconds(80));
  b.Reset();
  EXPECT_EQ(b.failures(), 0u);
  EXPECT_EQ(b.upcoming(), milliseconds(10));
  EXPECT_EQ(b.Next(), milliseconds(10));
  EXPECT_EQ(b.Next(), milliseconds(20));
  EXPECT_EQ(b.failures(), 2u);
}

TEST(Backoff, JitteredPausesStayWithinHalfAndWholePauseAndStillDouble) {
  // An odd min too: the lower bound is pause/2 rounded down.
  for (milliseconds min : {milliseconds(100), milliseconds(75), milliseconds(1)}) {
    Backoff b({.min = min, .max = milliseconds(5000), .jitter = true});
    std::set<int64_t> at_max;
    for (int i = 0; i < 2000; ++i) {
      const milliseconds whole = b.upcoming();
      const milliseconds pause = b.Next();
      EXPECT_GE(pause, whole / 2) << "min " << min.count() << " attempt " << i;
      EXPECT_LE(pause, whole) << "min " << min.count() << " attempt " << i;
      if (whole == milliseconds(5000)) at_max.insert(pause.count());
      // Jitter draws around the schedule; it does not change it.
      EXPECT_EQ(b.upcoming(), std::min(whole * 2, milliseconds(5000)));
    }
    EXPECT_GT(at_max.size(), 100u) << "jitter should spread the pauses, min " << min.count();
  }
}

TEST(Backoff, JitterIsOffByDefault) {
  Backoff b({.min = milliseconds(100), .max = milliseconds(5000)});
  for (int i = 0; i < 10; ++i) {
    const milliseconds whole = b.upcoming();
    EXPECT_EQ(b.Next(), whole);
  }
}

TEST(Deadline, ExpiresOnlyOnceItsTimeHasCome) {
  EXPECT_TRUE(Expired(DeadlineIn(milliseconds(0))));
  EXPECT_TRUE(Expired(DeadlineIn(milliseconds(-1))));
  EXPECT_FALSE(Expired(DeadlineIn(std::chrono::hours(1))));
  EXPECT_FALSE(Expired(NoDeadline()));
}

}  // namespace
}  // namespace strata
