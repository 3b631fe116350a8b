#include "core/tests/tools/probe_script.h"

#include <linux/fuse.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

namespace pfs::probe {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one escape after the backslash at line[i]; advances i past it.
bool unescape_one(std::string_view line, size_t& i, std::string& out, std::string& err) {
  if (i >= line.size()) {
    err = "backslash at the end of the line";
    return false;
  }
  const char c = line[i++];
  switch (c) {
    case '\\':
      out += '\\';
      return true;
    case '"':
      out += '"';
      return true;
    case '\'':
      out += '\'';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 'x': {
      int v = 0, n = 0;
      while (n < 2 && i < line.size() && hex_digit(line[i]) >= 0)
        v = v * 16 + hex_digit(line[i++]), ++n;
      if (n == 0) {
        err = "\\x without hex digits";
        return false;
      }
      out += static_cast<char>(v);
      return true;
    }
    default:
      if (c >= '0' && c <= '7') {
        int v = c - '0', n = 1;
        while (n < 3 && i < line.size() && line[i] >= '0' && line[i] <= '7')
          v = v * 8 + (line[i++] - '0'), ++n;
        if (v > 0xff) {
          err = "octal escape above \\377";
          return false;
        }
        out += static_cast<char>(v);
        return true;
      }
      err = std::string("unknown escape \\") + c;
      return false;
  }
}

bool parse_u64(const std::string& s, uint64_t& v) {
  if (s.empty() || s[0] == '-' || s[0] == '+' || s[0] == ' ') return false;
  errno = 0;
  char* end = nullptr;
  v = std::strtoull(s.c_str(), &end, 0);
  return errno == 0 && end != nullptr && *end == '\0';
}

bool parse_hex(const std::string& s, std::vector<uint8_t>& out) {
  if (s.size() % 2 != 0) return false;
  out.clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>(hi * 16 + lo));
  }
  return true;
}

template <class T>
void append_obj(std::vector<uint8_t>& b, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof(v));
}
void append_str(std::vector<uint8_t>& b, const std::string& s, bool nul = true) {
  b.insert(b.end(), s.begin(), s.end());
  if (nul) b.push_back(0);
}

// Argument access with errors that name the argument.
class Args {
 public:
  Args(const std::vector<std::string>& w, std::string& err) : w_(w), err_(err) {}
  size_t count() const { return w_.size() - 1; }
  bool num(size_t i, const char* what, uint64_t& v) {
    if (i >= w_.size()) return fail(std::string("missing ") + what);
    if (!parse_u64(w_[i], v))
      return fail(std::string("bad number for ") + what + ": '" + w_[i] + "'");
    return true;
  }
  template <class T>
  bool num_as(size_t i, const char* what, T& out) {
    uint64_t v;
    if (!num(i, what, v)) return false;
    if (v > static_cast<uint64_t>(static_cast<T>(~T{0}))) {
      return fail(std::string(what) + " out of range: '" + w_[i] + "'");
    }
    out = static_cast<T>(v);
    return true;
  }
  template <class T>
  bool opt_num(size_t i, const char* what, T& out) {
    return i >= w_.size() || num_as(i, what, out);
  }
  bool str(size_t i, const char* what, std::string& s) {
    if (i >= w_.size()) return fail(std::string("missing ") + what);
    s = w_[i];
    return true;
  }
  bool exact(size_t lo, size_t hi, const char* usage) {
    if (count() < lo || count() > hi) return fail(std::string("usage: ") + usage);
    return true;
  }
  bool fail(const std::string& m) {
    if (err_.empty()) err_ = m;
    return false;
  }

 private:
  const std::vector<std::string>& w_;
  std::string& err_;
};

bool build(const std::vector<std::string>& w, Command& c, std::string& err);

bool build_request(const std::vector<std::string>& w, Command& c, std::string& err) {
  Args a(w, err);
  const std::string& v = w[0];
  auto& b = c.body;
  std::string s1, s2;
  if (v == "lookup" || v == "unlink" || v == "rmdir") {
    c.opcode = v == "lookup" ? FUSE_LOOKUP : v == "unlink" ? FUSE_UNLINK : FUSE_RMDIR;
    if (!a.exact(2, 2, (v + " PARENT NAME").c_str()) || !a.num(1, "PARENT", c.nodeid) ||
        !a.str(2, "NAME", s1))
      return false;
    append_str(b, s1);
  } else if (v == "forget") {
    c.opcode = FUSE_FORGET;
    c.expects_reply = false;
    fuse_forget_in f{};
    if (!a.exact(2, 2, "forget NODE NLOOKUP") || !a.num(1, "NODE", c.nodeid) ||
        !a.num(2, "NLOOKUP", f.nlookup))
      return false;
    append_obj(b, f);
  } else if (v == "batchforget") {
    c.opcode = FUSE_BATCH_FORGET;
    c.expects_reply = false;
    if (a.count() == 0 || a.count() % 2 != 0)
      return a.fail("usage: batchforget NODE NLOOKUP [NODE NLOOKUP ...]");
    fuse_batch_forget_in h{static_cast<uint32_t>(a.count() / 2), 0};
    append_obj(b, h);
    for (size_t i = 1; i < w.size(); i += 2) {
      fuse_forget_one o{};
      if (!a.num(i, "NODE", o.nodeid) || !a.num(i + 1, "NLOOKUP", o.nlookup)) return false;
      append_obj(b, o);
    }
  } else if (v == "getattr") {
    c.opcode = FUSE_GETATTR;
    fuse_getattr_in g{};
    if (!a.exact(1, 2, "getattr NODE [FH]") || !a.num(1, "NODE", c.nodeid)) return false;
    if (a.count() == 2) {
      if (!a.num(2, "FH", g.fh)) return false;
      g.getattr_flags = FUSE_GETATTR_FH;
    }
    append_obj(b, g);
  } else if (v == "setattr") {
    c.opcode = FUSE_SETATTR;
    fuse_setattr_in s{};
    std::optional<uint32_t> valid_override;
    if (a.count() < 1 || !a.num(1, "NODE", c.nodeid))
      return a.fail("usage: setattr NODE KEY=VALUE...");
    for (size_t i = 2; i < w.size(); ++i) {
      const size_t eq = w[i].find('=');
      if (eq == std::string::npos) return a.fail("setattr: '" + w[i] + "' is not KEY=VALUE");
      const std::string key = w[i].substr(0, eq);
      uint64_t n;
      if (!parse_u64(w[i].substr(eq + 1), n))
        return a.fail("setattr: bad number in '" + w[i] + "'");
      if (key == "mode")
        s.mode = static_cast<uint32_t>(n), s.valid |= FATTR_MODE;
      else if (key == "uid")
        s.uid = static_cast<uint32_t>(n), s.valid |= FATTR_UID;
      else if (key == "gid")
        s.gid = static_cast<uint32_t>(n), s.valid |= FATTR_GID;
      else if (key == "size")
        s.size = n, s.valid |= FATTR_SIZE;
      else if (key == "fh")
        s.fh = n, s.valid |= FATTR_FH;
      else if (key == "atime")
        s.atime = n, s.valid |= FATTR_ATIME;
      else if (key == "mtime")
        s.mtime = n, s.valid |= FATTR_MTIME;
      else if (key == "valid")
        valid_override = static_cast<uint32_t>(n);
      else
        return a.fail("setattr: unknown key '" + key + "'");
      if ((key == "mode" || key == "uid" || key == "gid" || key == "valid") && n > UINT32_MAX) {
        return a.fail("setattr: " + key + " out of range");
      }
    }
    if (valid_override) s.valid = *valid_override;  // whatever the order of the keys
    append_obj(b, s);
  } else if (v == "readlink" || v == "statfs") {
    c.opcode = v == "readlink" ? FUSE_READLINK : FUSE_STATFS;
    if (!a.exact(1, 1, (v + " NODE").c_str()) || !a.num(1, "NODE", c.nodeid)) return false;
  } else if (v == "symlink") {
    c.opcode = FUSE_SYMLINK;
    if (!a.exact(3, 3, "symlink PARENT NAME TARGET") || !a.num(1, "PARENT", c.nodeid) ||
        !a.str(2, "NAME", s1) || !a.str(3, "TARGET", s2))
      return false;
    append_str(b, s1);
    append_str(b, s2);
  } else if (v == "mknod") {
    c.opcode = FUSE_MKNOD;
    fuse_mknod_in m{};
    if (!a.exact(4, 5, "mknod PARENT NAME MODE RDEV [UMASK]") || !a.num(1, "PARENT", c.nodeid) ||
        !a.str(2, "NAME", s1) || !a.num_as(3, "MODE", m.mode) || !a.num_as(4, "RDEV", m.rdev) ||
        !a.opt_num(5, "UMASK", m.umask))
      return false;
    append_obj(b, m);
    append_str(b, s1);
  } else if (v == "mkdir") {
    c.opcode = FUSE_MKDIR;
    fuse_mkdir_in m{};
    if (!a.exact(3, 4, "mkdir PARENT NAME MODE [UMASK]") || !a.num(1, "PARENT", c.nodeid) ||
        !a.str(2, "NAME", s1) || !a.num_as(3, "MODE", m.mode) || !a.opt_num(4, "UMASK", m.umask))
      return false;
    append_obj(b, m);
    append_str(b, s1);
  } else if (v == "create") {
    c.opcode = FUSE_CREATE;
    fuse_create_in m{};
    if (!a.exact(4, 5, "create PARENT NAME MODE FLAGS [UMASK]") || !a.num(1, "PARENT", c.nodeid) ||
        !a.str(2, "NAME", s1) || !a.num_as(3, "MODE", m.mode) || !a.num_as(4, "FLAGS", m.flags) ||
        !a.opt_num(5, "UMASK", m.umask))
      return false;
    append_obj(b, m);
    append_str(b, s1);
  } else if (v == "rename" || v == "rename2") {
    const bool two = v == "rename2";
    c.opcode = two ? FUSE_RENAME2 : FUSE_RENAME;
    uint64_t newdir = 0;
    uint32_t flags = 0;
    if (!a.exact(two ? 5 : 4, two ? 5 : 4,
                 two ? "rename2 PARENT NAME NEWPARENT NEWNAME FLAGS"
                     : "rename PARENT NAME NEWPARENT NEWNAME") ||
        !a.num(1, "PARENT", c.nodeid) || !a.str(2, "NAME", s1) || !a.num(3, "NEWPARENT", newdir) ||
        !a.str(4, "NEWNAME", s2) || (two && !a.num_as(5, "FLAGS", flags)))
      return false;
    if (two)
      append_obj(b, fuse_rename2_in{newdir, flags, 0});
    else
      append_obj(b, fuse_rename_in{newdir});
    append_str(b, s1);
    append_str(b, s2);
  } else if (v == "link") {
    c.opcode = FUSE_LINK;
    fuse_link_in l{};
    if (!a.exact(3, 3, "link NODE NEWPARENT NEWNAME") || !a.num(1, "NODE", l.oldnodeid) ||
        !a.num(2, "NEWPARENT", c.nodeid) || !a.str(3, "NEWNAME", s1))
      return false;
    append_obj(b, l);
    append_str(b, s1);
  } else if (v == "open" || v == "opendir") {
    c.opcode = v == "open" ? FUSE_OPEN : FUSE_OPENDIR;
    fuse_open_in o{};
    if (!a.exact(2, 2, (v + " NODE FLAGS").c_str()) || !a.num(1, "NODE", c.nodeid) ||
        !a.num_as(2, "FLAGS", o.flags))
      return false;
    append_obj(b, o);
  } else if (v == "read" || v == "readdir" || v == "readdirplus") {
    c.opcode = v == "read" ? FUSE_READ : v == "readdir" ? FUSE_READDIR : FUSE_READDIRPLUS;
    fuse_read_in r{};
    if (!a.exact(3, 4, (v + " NODE FH SIZE [OFFSET]").c_str()) || !a.num(1, "NODE", c.nodeid) ||
        !a.num(2, "FH", r.fh) || !a.num_as(3, "SIZE", r.size) || !a.opt_num(4, "OFFSET", r.offset))
      return false;
    append_obj(b, r);
  } else if (v == "write") {
    c.opcode = FUSE_WRITE;
    fuse_write_in r{};
    if (!a.exact(4, 4, "write NODE FH OFFSET DATA") || !a.num(1, "NODE", c.nodeid) ||
        !a.num(2, "FH", r.fh) || !a.num(3, "OFFSET", r.offset) || !a.str(4, "DATA", s1))
      return false;
    r.size = static_cast<uint32_t>(s1.size());
    append_obj(b, r);
    append_str(b, s1, false);
  } else if (v == "release" || v == "releasedir") {
    c.opcode = v == "release" ? FUSE_RELEASE : FUSE_RELEASEDIR;
    fuse_release_in r{};
    if (!a.exact(2, 2, (v + " NODE FH").c_str()) || !a.num(1, "NODE", c.nodeid) ||
        !a.num(2, "FH", r.fh))
      return false;
    append_obj(b, r);
  } else if (v == "access") {
    c.opcode = FUSE_ACCESS;
    fuse_access_in r{};
    if (!a.exact(2, 2, "access NODE MASK") || !a.num(1, "NODE", c.nodeid) ||
        !a.num_as(2, "MASK", r.mask))
      return false;
    append_obj(b, r);
  } else if (v == "setxattr") {
    c.opcode = FUSE_SETXATTR;
    uint32_t flags = 0;
    if (!a.exact(3, 4, "setxattr NODE NAME VALUE [FLAGS]") || !a.num(1, "NODE", c.nodeid) ||
        !a.str(2, "NAME", s1) || !a.str(3, "VALUE", s2) || !a.opt_num(4, "FLAGS", flags))
      return false;
    // The 8-byte form: the probe does not ask for FUSE_SETXATTR_EXT.
    const uint32_t head[2] = {static_cast<uint32_t>(s2.size()), flags};
    append_obj(b, head);
    append_str(b, s1);
    append_str(b, s2, false);
  } else if (v == "getxattr") {
    c.opcode = FUSE_GETXATTR;
    fuse_getxattr_in g{};
    if (!a.exact(3, 3, "getxattr NODE NAME SIZE") || !a.num(1, "NODE", c.nodeid) ||
        !a.str(2, "NAME", s1) || !a.num_as(3, "SIZE", g.size))
      return false;
    c.size_query = g.size == 0;
    append_obj(b, g);
    append_str(b, s1);
  } else if (v == "listxattr") {
    c.opcode = FUSE_LISTXATTR;
    fuse_getxattr_in g{};
    if (!a.exact(2, 2, "listxattr NODE SIZE") || !a.num(1, "NODE", c.nodeid) ||
        !a.num_as(2, "SIZE", g.size))
      return false;
    c.size_query = g.size == 0;
    append_obj(b, g);
  } else if (v == "removexattr") {
    c.opcode = FUSE_REMOVEXATTR;
    if (!a.exact(2, 2, "removexattr NODE NAME") || !a.num(1, "NODE", c.nodeid) ||
        !a.str(2, "NAME", s1))
      return false;
    append_str(b, s1);
  } else if (v == "ioctl") {
    c.opcode = FUSE_IOCTL;
    fuse_ioctl_in io{};
    if (!a.exact(4, 8, "ioctl NODE FH CMD OUT_SIZE [IN_DATA [IN_SIZE [FLAGS [ARG]]]]") ||
        !a.num(1, "NODE", c.nodeid) || !a.num(2, "FH", io.fh) || !a.num_as(3, "CMD", io.cmd) ||
        !a.num_as(4, "OUT_SIZE", io.out_size))
      return false;
    if (a.count() >= 5) s1 = w[5];
    io.in_size = static_cast<uint32_t>(s1.size());
    if (!a.opt_num(6, "IN_SIZE", io.in_size) || !a.opt_num(7, "FLAGS", io.flags) ||
        !a.opt_num(8, "ARG", io.arg))
      return false;
    append_obj(b, io);
    append_str(b, s1, false);
  } else if (v == "op") {
    if (!a.exact(2, 3, "op OPCODE NODE [HEXBODY]") || !a.num_as(1, "OPCODE", c.opcode) ||
        !a.num(2, "NODE", c.nodeid))
      return false;
    if (a.count() == 3 && !parse_hex(w[3], b))
      return a.fail("op: HEXBODY is not an even string of hex digits");
    c.expects_reply =
        c.opcode != FUSE_FORGET && c.opcode != FUSE_BATCH_FORGET && c.opcode != FUSE_INTERRUPT;
  } else if (v == "raw") {
    c.kind = Command::Kind::kRaw;
    if (!a.exact(1, 1, "raw HEXBYTES")) return false;
    if (!parse_hex(w[1], b)) return a.fail("raw: not an even string of hex digits");
  } else {
    return a.fail("unknown command '" + v + "'");
  }
  return true;
}

bool build(const std::vector<std::string>& w, Command& c, std::string& err) {
  Args a(w, err);
  c.verb = w[0];
  const std::string& v = w[0];
  if (v == "uid" || v == "gid" || v == "pid") {
    c.kind = Command::Kind::kSetIds;
    if (a.count() % 2 != 1) return a.fail("usage: uid U [gid G] [pid P]");
    for (size_t i = 0; i < w.size(); i += 2) {
      uint32_t n;
      if (!a.num_as(i + 1, w[i].c_str(), n)) return false;
      if (w[i] == "uid")
        c.uid = n;
      else if (w[i] == "gid")
        c.gid = n;
      else if (w[i] == "pid")
        c.pid = n;
      else
        return a.fail("unknown id '" + w[i] + "' (uid, gid or pid)");
    }
    return true;
  }
  if (v == "queue" || v == "replyroom") {
    c.kind = v == "queue" ? Command::Kind::kQueue : Command::Kind::kReplyRoom;
    if (!a.exact(1, 1, (v + (v == "queue" ? " N" : " BYTES")).c_str()) || !a.num(1, "N", c.number))
      return false;
    if (v == "replyroom" && (c.number < sizeof(fuse_out_header) || c.number > (8u << 20))) {
      return a.fail("replyroom: between 16 and 8388608 bytes");
    }
    return true;
  }
  if (v == "collect") {
    c.kind = Command::Kind::kCollect;
    return a.exact(0, 0, "collect");
  }
  if (v == "post" || v == "repeat") {
    c.kind = v == "post" ? Command::Kind::kPost : Command::Kind::kRepeat;
    size_t first = 1;
    if (v == "repeat") {
      if (!a.num(1, "N", c.number)) return false;
      first = 2;
    }
    if (w.size() <= first) return a.fail("usage: " + v + (v == "repeat" ? " N" : "") + " COMMAND");
    std::vector<std::string> rest(w.begin() + static_cast<long>(first), w.end());
    auto inner = std::make_shared<Command>();
    if (!build(rest, *inner, err)) return false;
    if (inner->kind != Command::Kind::kRequest && inner->kind != Command::Kind::kRaw) {
      return a.fail(v + ": only a request can follow");
    }
    c.inner = inner;
    return true;
  }
  c.kind = Command::Kind::kRequest;
  return build_request(w, c, err);
}

}  // namespace

bool tokenize(std::string_view line, std::vector<std::string>& out, std::string& err) {
  out.clear();
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
      continue;
    }
    if (c == '#') break;
    std::string word;
    if (c == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        const char d = line[i++];
        if (d == '"') {
          closed = true;
          break;
        }
        if (d == '\\') {
          if (!unescape_one(line, i, word, err)) return false;
        } else {
          word += d;
        }
      }
      if (!closed) {
        err = "unterminated quoted string";
        return false;
      }
      if (i < line.size() && line[i] != ' ' && line[i] != '\t') {
        err = "text right after a closing quote";
        return false;
      }
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
             line[i] != '\n') {
        if (line[i] == '"') {
          err = "quote inside a bare word";
          return false;
        }
        word += line[i++];
      }
    }
    out.push_back(std::move(word));
  }
  return true;
}

std::string escape(std::span<const uint8_t> bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    if (b == '\\' || b == '"') {
      s += '\\';
      s += static_cast<char>(b);
    } else if (b >= 0x20 && b < 0x7f) {
      s += static_cast<char>(b);
    } else {
      s += "\\x";
      s += kHex[b >> 4];
      s += kHex[b & 15];
    }
  }
  return s;
}

std::string hex(std::span<const uint8_t> bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

ParseResult parse_line(std::string_view line) {
  ParseResult r;
  std::vector<std::string> words;
  if (!tokenize(line, words, r.error)) return r;
  if (words.empty()) return r;
  Command c;
  if (!build(words, c, r.error)) {
    if (r.error.empty()) r.error = "bad line";
    return r;
  }
  r.command = std::move(c);
  return r;
}

}  // namespace pfs::probe
