// The pfs_vhost_probe script parser: good lines build the exact request bytes,
// bad lines are refused with a message that says what is wrong.
#include "core/tests/tools/probe_script.h"

#include <gtest/gtest.h>
#include <linux/fuse.h>

#include <cstring>
#include <string>

#include "core/tests/tools/probe_reply.h"

namespace pfs::probe {
namespace {

Command ok(std::string_view line) {
  ParseResult r = parse_line(line);
  EXPECT_EQ(r.error, "") << line;
  EXPECT_TRUE(r.command.has_value()) << line;
  return r.command.value_or(Command{});
}

std::string bad(std::string_view line) {
  ParseResult r = parse_line(line);
  EXPECT_FALSE(r.command.has_value()) << line;
  EXPECT_NE(r.error, "") << line;
  return r.error;
}

std::string tail(const Command& c, size_t skip) {
  return std::string(c.body.begin() + static_cast<long>(skip), c.body.end());
}

TEST(ProbeScript, BlankAndCommentLinesAreNoCommand) {
  for (const char* l : {"", "   ", "# lookup 1 x", "\t# x"}) {
    ParseResult r = parse_line(l);
    EXPECT_EQ(r.error, "");
    EXPECT_FALSE(r.command.has_value());
  }
}

TEST(ProbeScript, TokenizerUnescapes) {
  std::vector<std::string> w;
  std::string err;
  ASSERT_TRUE(tokenize(R"(a "b c" "\x2f\0\377\"\\" d#e # gone)", w, err)) << err;
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[1], "b c");
  EXPECT_EQ(w[2], std::string("/\0\xff\"\\", 5));
  EXPECT_EQ(w[3], "d#e");
}

TEST(ProbeScript, LookupNamesGoOutVerbatimWithNul) {
  Command c = ok(R"(lookup 1 "..")");
  EXPECT_EQ(c.opcode, FUSE_LOOKUP);
  EXPECT_EQ(c.nodeid, 1u);
  EXPECT_EQ(tail(c, 0), std::string("..\0", 3));
  c = ok(R"(lookup 0xffffffffffffffff "a/b\0c\xfe")");
  EXPECT_EQ(c.nodeid, UINT64_MAX);
  EXPECT_EQ(tail(c, 0), std::string("a/b\0c\xfe\0", 7));
}

TEST(ProbeScript, StructuredRequests) {
  Command c = ok("mknod 1 dev 060644 0x0801");
  ASSERT_EQ(c.body.size(), sizeof(fuse_mknod_in) + 4);
  fuse_mknod_in m;
  std::memcpy(&m, c.body.data(), sizeof(m));
  EXPECT_EQ(m.mode, 060644u);
  EXPECT_EQ(m.rdev, 0x801u);

  c = ok("link 5 1 \"new\"");
  fuse_link_in l;
  std::memcpy(&l, c.body.data(), sizeof(l));
  EXPECT_EQ(l.oldnodeid, 5u);
  EXPECT_EQ(c.nodeid, 1u);

  c = ok("setattr 3 mode=04755 uid=0");
  fuse_setattr_in s;
  std::memcpy(&s, c.body.data(), sizeof(s));
  EXPECT_EQ(s.valid, uint32_t{FATTR_MODE | FATTR_UID});
  EXPECT_EQ(s.mode, 04755u);
  // valid= replaces the FATTR_* bits the keys set, before or after them.
  for (const char* line : {"setattr 3 valid=0 mode=0755", "setattr 3 mode=0755 valid=0"}) {
    c = ok(line);
    std::memcpy(&s, c.body.data(), sizeof(s));
    EXPECT_EQ(s.valid, 0u) << line;
    EXPECT_EQ(s.mode, 0755u) << line;
  }

  // The in_size field can lie about the data that follows.
  c = ok(R"(ioctl 2 7 0xdeadbeef 0xffffffff "abc" 0x7fffffff)");
  fuse_ioctl_in io;
  std::memcpy(&io, c.body.data(), sizeof(io));
  EXPECT_EQ(io.cmd, 0xdeadbeefu);
  EXPECT_EQ(io.out_size, 0xffffffffu);
  EXPECT_EQ(io.in_size, 0x7fffffffu);
  EXPECT_EQ(tail(c, sizeof(io)), "abc");

  c = ok(R"(setxattr 2 "trusted.x" "\x00\x01")");
  EXPECT_EQ(c.body.size(), 8u + 10u + 2u);

  c = ok("getxattr 2 user.a 0");
  EXPECT_TRUE(c.size_query);
  c = ok("forget 9 1");
  EXPECT_FALSE(c.expects_reply);
}

TEST(ProbeScript, RawOpStateAndNesting) {
  Command c = ok("raw 0102ff");
  EXPECT_EQ(c.kind, Command::Kind::kRaw);
  EXPECT_EQ(c.body, (std::vector<uint8_t>{1, 2, 0xff}));
  c = ok("op 9999 1 00");
  EXPECT_EQ(c.opcode, 9999u);
  c = ok("uid 0xffffffff gid 1000 pid 5");
  EXPECT_EQ(c.kind, Command::Kind::kSetIds);
  EXPECT_EQ(c.uid, 0xffffffffu);
  EXPECT_EQ(c.gid, 1000u);
  EXPECT_EQ(c.pid, 5u);
  c = ok("post lookup 1 x");
  ASSERT_TRUE(c.inner);
  EXPECT_EQ(c.inner->opcode, FUSE_LOOKUP);
  c = ok("repeat 100 lookup 1 x");
  EXPECT_EQ(c.number, 100u);
}

TEST(ProbeScript, BadLinesSayWhy) {
  EXPECT_NE(bad("frobnicate 1").find("unknown command"), std::string::npos);
  EXPECT_NE(bad("lookup 1").find("usage"), std::string::npos);
  EXPECT_NE(bad("lookup one x").find("bad number for PARENT"), std::string::npos);
  EXPECT_NE(bad("lookup -1 x").find("bad number"), std::string::npos);
  EXPECT_NE(bad("lookup 1 \"x").find("unterminated"), std::string::npos);
  EXPECT_NE(bad(R"(lookup 1 "\q")").find("unknown escape"), std::string::npos);
  EXPECT_NE(bad(R"(lookup 1 "\x")").find("\\x without"), std::string::npos);
  EXPECT_NE(bad("mknod 1 d 0x100000000 0").find("out of range"), std::string::npos);
  EXPECT_NE(bad("raw 123").find("hex"), std::string::npos);
  EXPECT_NE(bad("raw zz").find("hex"), std::string::npos);
  EXPECT_NE(bad("uid 1 gid").find("usage"), std::string::npos);
  EXPECT_NE(bad("uid 1 foo 2").find("unknown id"), std::string::npos);
  EXPECT_NE(bad("setattr 1 mode").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(bad("setattr 1 colour=3").find("unknown key"), std::string::npos);
  EXPECT_NE(bad("post queue 2").find("only a request"), std::string::npos);
  EXPECT_NE(bad("repeat x lookup 1 a").find("bad number"), std::string::npos);
  EXPECT_NE(bad("replyroom 4").find("between"), std::string::npos);
  EXPECT_NE(bad("batchforget 1").find("usage"), std::string::npos);
  EXPECT_NE(bad("a\"b").find("quote"), std::string::npos);
}

TEST(ProbeReply, FormatsErrorsAndEntries) {
  Command c = ok("lookup 1 x");
  fuse_out_header h{sizeof(fuse_out_header), -ENOENT, 2};
  std::vector<uint8_t> buf(sizeof(h));
  std::memcpy(buf.data(), &h, sizeof(h));
  EXPECT_EQ(format_reply(c, buf, sizeof(h)), "err 2 ENOENT");
  EXPECT_EQ(format_reply(c, buf, 40), "err 2 ENOENT badlen=16");

  fuse_entry_out e{};
  e.nodeid = 7;
  e.attr.ino = 99;
  e.attr.mode = 0100644;
  e.attr.uid = 4242;
  h = {static_cast<uint32_t>(sizeof(h) + sizeof(e)), 0, 2};
  buf.resize(sizeof(h) + sizeof(e));
  std::memcpy(buf.data(), &h, sizeof(h));
  std::memcpy(buf.data() + sizeof(h), &e, sizeof(e));
  const std::string line = format_reply(c, buf, h.len);
  EXPECT_EQ(line.rfind("ok nodeid=7 gen=0 ino=99 mode=0100644 uid=4242", 0), 0u) << line;
  EXPECT_EQ(escape(std::vector<uint8_t>{'a', '/', 0, 0xff, '"'}), "a/\\x00\\xff\\\"");
}

}  // namespace
}  // namespace pfs::probe
