// A GoogleTest fixture with a fresh scratch directory under /tmp, removed with
// everything in it after each test, pass or fail.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "core/passthrough/scoped_fd.h"

namespace pfs::testing {

class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pfs-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << "mkdtemp: " << errno;
    path_ = tmpl;
    dir_ = ScopedFd(::open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir_.valid());
  }

  void TearDown() override {
    dir_.reset();
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    EXPECT_FALSE(ec) << "removing " << path_ << ": " << ec.message();
  }

  const std::string& path() const { return path_; }
  std::string path(const std::string& name) const { return path_ + "/" + name; }
  int dir_fd() const { return dir_.get(); }

 private:
  std::string path_;
  ScopedFd dir_;
};

}  // namespace pfs::testing
