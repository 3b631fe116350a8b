#include "core/tests/tools/probe_reply.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace pfs::probe {
namespace {

std::string attr_fields(const fuse_attr& a) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                " ino=%" PRIu64 " mode=0%o uid=%u gid=%u size=%" PRIu64 " nlink=%u rdev=%u", a.ino,
                a.mode, a.uid, a.gid, a.size, a.nlink, a.rdev);
  return buf;
}

std::string entry_fields(const fuse_entry_out& e) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), " nodeid=%" PRIu64 " gen=%" PRIu64, e.nodeid, e.generation);
  return buf + attr_fields(e.attr);
}

template <class T>
bool take(std::span<const uint8_t> p, T& out) {
  if (p.size() < sizeof(T)) return false;
  std::memcpy(&out, p.data(), sizeof(T));
  return true;
}

std::string data_fields(std::span<const uint8_t> p) {
  return " len=" + std::to_string(p.size()) + " data=" + hex(p);
}

}  // namespace

std::string errno_name(int err) {
  // glibc 2.32+: "ENOENT" for ENOENT, null for a number it has no name for.
  const char* name = ::strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

std::string format_reply(const Command& c, std::span<const uint8_t> reply, uint32_t written) {
  fuse_out_header h{};
  if (!take(reply, h)) return "short used_len=" + std::to_string(written) + data_fields(reply);
  std::string extra;
  if (h.len != written) extra = " badlen=" + std::to_string(h.len);
  if (h.error != 0) {
    const int e = -h.error;
    return "err " + std::to_string(e) + " " + errno_name(e) + extra;
  }
  const size_t n = std::min<size_t>(h.len, reply.size());
  const std::span<const uint8_t> p =
      n >= sizeof(h) ? reply.subspan(sizeof(h), n - sizeof(h)) : std::span<const uint8_t>();
  std::string out = "ok";
  char buf[160];
  switch (c.opcode) {
    case FUSE_LOOKUP:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_SYMLINK:
    case FUSE_LINK: {
      fuse_entry_out e{};
      if (!take(p, e)) return out + " short" + data_fields(p) + extra;
      return out + entry_fields(e) + extra;
    }
    case FUSE_CREATE: {
      fuse_entry_out e{};
      fuse_open_out o{};
      if (!take(p, e) || !take(p.subspan(std::min(p.size(), sizeof(e))), o))
        return out + " short" + data_fields(p) + extra;
      std::snprintf(buf, sizeof(buf), " fh=%" PRIu64 " open_flags=0x%x", o.fh, o.open_flags);
      return out + entry_fields(e) + buf + extra;
    }
    case FUSE_GETATTR:
    case FUSE_SETATTR: {
      fuse_attr_out a{};
      if (!take(p, a)) return out + " short" + data_fields(p) + extra;
      return out + attr_fields(a.attr) + extra;
    }
    case FUSE_OPEN:
    case FUSE_OPENDIR: {
      fuse_open_out o{};
      if (!take(p, o)) return out + " short" + data_fields(p) + extra;
      std::snprintf(buf, sizeof(buf), " fh=%" PRIu64 " open_flags=0x%x", o.fh, o.open_flags);
      return out + buf + extra;
    }
    case FUSE_WRITE: {
      fuse_write_out w{};
      if (!take(p, w)) return out + " short" + data_fields(p) + extra;
      return out + " size=" + std::to_string(w.size) + extra;
    }
    case FUSE_GETXATTR:
    case FUSE_LISTXATTR: {
      if (c.size_query) {
        fuse_getxattr_out g{};
        if (!take(p, g)) return out + " short" + data_fields(p) + extra;
        return out + " size=" + std::to_string(g.size) + extra;
      }
      return out + data_fields(p) + " text=\"" + escape(p) + "\"" + extra;
    }
    case FUSE_READLINK:
      return out + data_fields(p) + " text=\"" + escape(p) + "\"" + extra;
    case FUSE_IOCTL: {
      fuse_ioctl_out o{};
      if (!take(p, o)) return out + " short" + data_fields(p) + extra;
      std::snprintf(buf, sizeof(buf), " result=%d flags=0x%x", o.result, o.flags);
      return out + buf + data_fields(p.subspan(sizeof(o))) + extra;
    }
    case FUSE_STATFS: {
      fuse_statfs_out s{};
      if (!take(p, s)) return out + " short" + data_fields(p) + extra;
      std::snprintf(buf, sizeof(buf), " blocks=%" PRIu64 " files=%" PRIu64 " bsize=%u namelen=%u",
                    s.st.blocks, s.st.files, s.st.bsize, s.st.namelen);
      return out + buf + extra;
    }
    case FUSE_INIT: {
      fuse_init_out i{};
      if (!take(p, i)) return out + " short" + data_fields(p) + extra;
      std::snprintf(buf, sizeof(buf), " major=%u minor=%u flags=0x%x flags2=0x%x max_write=%u",
                    i.major, i.minor, i.flags, i.flags2, i.max_write);
      return out + buf + extra;
    }
    default:
      return p.empty() ? out + extra : out + data_fields(p) + extra;
  }
}

}  // namespace pfs::probe
