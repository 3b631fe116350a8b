// main() of every property binary: CI's fixed seed and case count unless the
// caller chose their own RC_PARAMS (to rerun a failure or to run longer).
#include <gtest/gtest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  // Safety: setenv before any thread exists; rapidcheck reads RC_PARAMS lazily.
  ::setenv("RC_PARAMS", PFS_DEFAULT_RC_PARAMS, /*overwrite=*/0);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
