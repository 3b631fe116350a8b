#include "core/fuse/server_call.h"

#include "core/fuse/reply_encoder.h"

namespace pfs::fuse::detail {

Call::Call(FileSystem& fs_in, const ServerOptions& opts_in, Negotiated neg_in,
           const fuse_in_header& h_in, Reader& in_r, Writer& out_w, std::span<uint8_t> scratch_in)
    : fs(fs_in),
      opts(opts_in),
      neg(neg_in),
      h(h_in),
      ctx{h_in.uid, h_in.gid, h_in.pid, h_in.unique},
      in(in_r),
      out(out_w),
      scratch(scratch_in),
      base(out_w.written()) {}

bool Call::write_header(uint32_t len, int32_t err) {
  const fuse_out_header oh{len, err, h.unique};
  return out.write_obj(oh);
}

size_t Call::error(int err) {
  if (!write_header(sizeof(fuse_out_header), wire_error(err))) return 0;
  return sizeof(fuse_out_header);
}

size_t Call::bad(int err, std::string_view reason) {
  if (opts.on_bad_request)
    opts.on_bad_request(BadRequest{h.opcode, h.unique, h.nodeid, err, reason});
  return error(err);
}

size_t Call::drop(std::string_view reason) {
  if (opts.on_bad_request) opts.on_bad_request(BadRequest{h.opcode, h.unique, h.nodeid, 0, reason});
  return 0;
}

size_t Call::ok(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  const size_t len = sizeof(fuse_out_header) + a.size() + b.size();
  // The dispatcher checked the room for fixed-size replies before the FS ran; this
  // only triggers for a transport that offers less than a variable reply needs.
  if (len > out.available() || len > UINT32_MAX) return bad(ERANGE, "reply does not fit");
  write_header(static_cast<uint32_t>(len), 0);
  out.write(a.data(), a.size());
  out.write(b.data(), b.size());
  return len;
}

bool Call::begin_in_place() { return write_header(sizeof(fuse_out_header), 0); }

size_t Call::finish_in_place() {
  const size_t len = out.written() - base;
  const uint32_t len32 = static_cast<uint32_t>(len);
  out.patch(base, &len32, sizeof(len32));
  return len;
}

size_t Call::fail_in_place(int err) {
  // Whatever the FS wrote after the header is left behind: the header's len and
  // the returned size both say 16 bytes, so nobody reads it.
  const fuse_out_header oh{sizeof(fuse_out_header), wire_error(err), h.unique};
  out.patch(base, &oh, sizeof(oh));
  return sizeof(fuse_out_header);
}

}  // namespace pfs::fuse::detail
