// Conversions from the FileSystem's answers to the kernel's reply structs.
#pragma once

#include <linux/fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core/fuse/filesystem.h"

namespace pfs::fuse {

fuse_attr to_fuse_attr(const struct stat& st);
fuse_entry_out to_entry_out(const Entry& e);
fuse_attr_out to_attr_out(const AttrReply& a);
fuse_open_out to_open_out(const OpenReply& o);
fuse_kstatfs to_kstatfs(const struct statvfs& s);
fuse_file_lock to_file_lock(const FileLock& l);
FileLock from_file_lock(const fuse_file_lock& l);

// The fuse_out_header.error for a positive errno. The kernel refuses replies with
// error <= -512 (and then never completes the request), so anything outside
// (0, 512) becomes EIO.
int32_t wire_error(int err);

}  // namespace pfs::fuse
