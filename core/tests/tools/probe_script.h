// The script language of pfs_vhost_probe: one command a line, each turned into a
// FUSE request (header fields from the probe's state, body built here) or into a
// change of the probe's state. Names and data are C-escaped strings, so '/', NUL
// and bytes > 0x7f can be sent: "a\/b" is not special, "a/b", "a\0b", "\xff" are.
//
//   lookup PARENT NAME            getattr NODE [FH]        readlink NODE
//   open NODE FLAGS               opendir NODE FLAGS       statfs NODE
//   read NODE FH SIZE [OFFSET]    write NODE FH OFFSET DATA
//   readdir NODE FH SIZE [OFF]    readdirplus NODE FH SIZE [OFF]
//   release NODE FH               releasedir NODE FH       access NODE MASK
//   forget NODE NLOOKUP           batchforget NODE NLOOKUP [NODE NLOOKUP ...]
//   symlink PARENT NAME TARGET    mknod PARENT NAME MODE RDEV [UMASK]
//   mkdir PARENT NAME MODE [UMASK]  create PARENT NAME MODE FLAGS [UMASK]
//   unlink PARENT NAME            rmdir PARENT NAME
//   rename PARENT NAME NEWPARENT NEWNAME   rename2 ... NEWNAME FLAGS
//   link NODE NEWPARENT NEWNAME   setattr NODE KEY=VALUE...  (mode uid gid size fh
//                                 atime mtime; valid=N overrides FATTR_* bits)
//   setxattr NODE NAME VALUE [FLAGS]   getxattr NODE NAME SIZE
//   listxattr NODE SIZE           removexattr NODE NAME
//   ioctl NODE FH CMD OUT_SIZE [IN_DATA [IN_SIZE [FLAGS [ARG]]]]
//   op OPCODE NODE HEXBODY        raw HEXBYTES (a whole request, header included)
//   uid U [gid G] [pid P]   gid G   pid P   (header ids for the requests that follow)
//   queue N  (request queue; 0 is hiprio)   replyroom BYTES  (device-writable room)
//   post COMMAND   (publish, do not wait)   collect  (wait for everything posted)
//   repeat N COMMAND  (N times; one summary line)
// Numbers are C literals (10, 0x1f, 0755). '#' starts a comment outside quotes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pfs::probe {

// Splits a line into words; "..." words are C-unescaped (\\ \" \n \t \r \0 \xHH
// \ooo). False with `err` set on an unterminated quote or a bad escape.
bool tokenize(std::string_view line, std::vector<std::string>& out, std::string& err);

// Bytes as a C-escaped string (printable ASCII as is, the rest as \xHH).
std::string escape(std::span<const uint8_t> bytes);
std::string hex(std::span<const uint8_t> bytes);

struct Command {
  enum class Kind { kRequest, kRaw, kSetIds, kQueue, kReplyRoom, kPost, kCollect, kRepeat };
  Kind kind = Kind::kRequest;
  std::string verb;  // the first word
  // kRequest
  uint32_t opcode = 0;
  uint64_t nodeid = 0;
  std::vector<uint8_t> body;  // after fuse_in_header; also kRaw's whole request
  bool expects_reply = true;
  bool size_query = false;  // GETXATTR/LISTXATTR with size 0: reply is fuse_getxattr_out
  // kSetIds
  std::optional<uint32_t> uid, gid, pid;
  // kQueue / kReplyRoom / kRepeat
  uint64_t number = 0;
  // kPost / kRepeat: the command to run
  std::shared_ptr<Command> inner;
};

struct ParseResult {
  std::optional<Command> command;  // empty for a blank line or a comment
  std::string error;               // non-empty when the line is bad
};

ParseResult parse_line(std::string_view line);

}  // namespace pfs::probe
