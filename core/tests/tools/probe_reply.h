// One line for one FUSE reply, as pfs_vhost_probe prints it:
//   ok [key=value ...]      (entry, attr, open, data... fields by opcode)
//   err N NAME              (the reply's errno)
// plus " badlen=N" when the header's len differs from the bytes the device wrote.
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <span>
#include <string>

#include "core/tests/tools/probe_script.h"

namespace pfs::probe {

std::string errno_name(int err);

// `written`: the byte count the device put in the used ring.
std::string format_reply(const Command& c, std::span<const uint8_t> reply, uint32_t written);

}  // namespace pfs::probe
