#include "core/fuse/secctx.h"

#include <linux/fuse.h>

#include <cerrno>

#include "core/fuse/request_decoder.h"

namespace pfs::fuse {
namespace {

constexpr std::string_view kSelinuxXattr = "security.selinux";

// One secctx block body (after its header) holding `nr` contexts.
int parse_secctx_block(std::span<const uint8_t> block, uint32_t nr, std::string_view& ctx) {
  BodyCursor cur(block);
  for (uint32_t i = 0; i < nr; ++i) {
    fuse_secctx sc{};
    if (!cur.take(sc)) return EINVAL;
    std::string_view name;
    if (cur.take_cstr(name, false) != 0) return EINVAL;
    if (check_xattr_name(name) != 0) return EINVAL;
    std::span<const uint8_t> value;
    if (!cur.take_bytes(sc.size, value)) return EINVAL;
    std::string_view v(reinterpret_cast<const char*>(value.data()), value.size());
    while (!v.empty() && v.back() == '\0') v.remove_suffix(1);
    if (v.find('\0') != std::string_view::npos) return EINVAL;
    if (name == kSelinuxXattr && ctx.empty()) ctx = v;
  }
  // What remains is the block's alignment padding.
  return 0;
}

}  // namespace

int parse_security_context(std::span<const uint8_t> region, std::string_view& ctx) {
  ctx = {};
  while (!region.empty()) {
    fuse_ext_header eh{};
    BodyCursor cur(region);
    if (!cur.take(eh)) return EINVAL;
    // The kernel pads every entry to 8 bytes (FUSE_REC_ALIGN); an unaligned size
    // that still adds up is a guest's own layout, refused like any other.
    if (eh.size < sizeof(eh) || eh.size > region.size() || eh.size % 8 != 0) return EINVAL;
    if (eh.type <= FUSE_MAX_NR_SECCTX) {
      const int err =
          parse_secctx_block(region.subspan(sizeof(eh), eh.size - sizeof(eh)), eh.type, ctx);
      if (err != 0) return err;
    }
    region = region.subspan(eh.size);
  }
  return 0;
}

}  // namespace pfs::fuse
