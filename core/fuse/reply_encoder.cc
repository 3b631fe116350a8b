#include "core/fuse/reply_encoder.h"

#include <cerrno>
#include <cstdint>
#include <limits>

namespace pfs::fuse {
namespace {

uint32_t saturate32(uint64_t v) {
  return v > std::numeric_limits<uint32_t>::max() ? std::numeric_limits<uint32_t>::max()
                                                  : static_cast<uint32_t>(v);
}

}  // namespace

fuse_attr to_fuse_attr(const struct stat& st) {
  fuse_attr a{};
  a.ino = st.st_ino;
  a.size = static_cast<uint64_t>(st.st_size);
  a.blocks = static_cast<uint64_t>(st.st_blocks);
  // Times are signed on the wire too (the kernel reads them as s64).
  a.atime = static_cast<uint64_t>(st.st_atim.tv_sec);
  a.mtime = static_cast<uint64_t>(st.st_mtim.tv_sec);
  a.ctime = static_cast<uint64_t>(st.st_ctim.tv_sec);
  a.atimensec = static_cast<uint32_t>(st.st_atim.tv_nsec);
  a.mtimensec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  a.ctimensec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
  a.mode = st.st_mode;
  a.nlink = saturate32(st.st_nlink);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  // glibc's dev_t encoding equals the kernel's new_encode_dev() in its low 32 bits
  // for every major below 4096, which is all FUSE can carry.
  a.rdev = static_cast<uint32_t>(st.st_rdev);
  a.blksize = static_cast<uint32_t>(st.st_blksize);
  return a;
}

fuse_entry_out to_entry_out(const Entry& e) {
  fuse_entry_out o{};
  o.nodeid = e.inode;
  o.generation = e.generation;
  o.entry_valid = e.entry_timeout.sec;
  o.entry_valid_nsec = e.entry_timeout.nsec;
  o.attr_valid = e.attr_timeout.sec;
  o.attr_valid_nsec = e.attr_timeout.nsec;
  o.attr = to_fuse_attr(e.attr);
  return o;
}

fuse_attr_out to_attr_out(const AttrReply& a) {
  fuse_attr_out o{};
  o.attr_valid = a.timeout.sec;
  o.attr_valid_nsec = a.timeout.nsec;
  o.attr = to_fuse_attr(a.attr);
  return o;
}

fuse_open_out to_open_out(const OpenReply& r) {
  fuse_open_out o{};
  o.fh = r.handle;
  o.open_flags = r.open_flags;
  return o;
}

fuse_kstatfs to_kstatfs(const struct statvfs& s) {
  fuse_kstatfs k{};
  k.blocks = s.f_blocks;
  k.bfree = s.f_bfree;
  k.bavail = s.f_bavail;
  k.files = s.f_files;
  k.ffree = s.f_ffree;
  k.bsize = saturate32(s.f_bsize);
  k.namelen = saturate32(s.f_namemax);
  k.frsize = saturate32(s.f_frsize);
  return k;
}

fuse_file_lock to_file_lock(const FileLock& l) {
  fuse_file_lock o{};
  o.start = l.start;
  o.end = l.end;
  o.type = l.type;
  o.pid = l.pid;
  return o;
}

FileLock from_file_lock(const fuse_file_lock& l) { return FileLock{l.start, l.end, l.type, l.pid}; }

int32_t wire_error(int err) {
  if (err <= 0 || err >= 512) err = EIO;
  return -err;
}

}  // namespace pfs::fuse
