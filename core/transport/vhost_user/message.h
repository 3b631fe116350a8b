// vhost-user wire format (QEMU docs/interop/vhost-user.rst): the message header,
// the payloads pfsd understands, and framing over a unix socket with SCM_RIGHTS.
//
// The front-end is untrusted: every size is checked against what arrived, every
// received fd is owned by a ScopedFd at once, and a message that does not parse is
// reported as an error so the caller can close the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "core/fuse/result.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::transport::vhost_user {

// Request codes (front-end to back-end) that pfsd knows by name.
enum class Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSetSlaveReqFd = 21,
  kGetConfig = 24,
  kSetConfig = 25,
  kResetDevice = 34,
  kGetMaxMemSlots = 36,
  kAddMemReg = 37,
  kRemMemReg = 38,
  kSetStatus = 39,
  kGetStatus = 40,
};
const char* request_name(uint32_t request);

// Header flags.
inline constexpr uint32_t kVersionMask = 0x3;
inline constexpr uint32_t kVersion = 0x1;
inline constexpr uint32_t kFlagReply = 1u << 2;
inline constexpr uint32_t kFlagNeedReply = 1u << 3;

// Virtio feature bits (the device's, offered through GET_FEATURES).
inline constexpr uint64_t kFeatureIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFeatureEventIdx = 1ull << 29;
inline constexpr uint64_t kFeatureProtocolFeatures = 1ull << 30;  // VHOST_USER_F_PROTOCOL_FEATURES
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;

// Protocol feature bits (GET/SET_PROTOCOL_FEATURES).
inline constexpr uint64_t kProtocolMq = 1ull << 0;
inline constexpr uint64_t kProtocolReplyAck = 1ull << 3;
inline constexpr uint64_t kProtocolConfigureMemSlots = 1ull << 15;

// The u64 payload of SET_VRING_KICK/CALL/ERR: index in bits 0-7, bit 8 = no fd.
inline constexpr uint64_t kVringIndexMask = 0xff;
inline constexpr uint64_t kVringNoFd = 1ull << 8;

// SET_MEM_TABLE carries at most this many regions (one fd each).
inline constexpr size_t kMaxMemTableRegions = 8;
// The largest payload pfsd accepts; anything longer is malformed.
inline constexpr uint32_t kMaxPayload = 4096;
// The most fds one message may carry.
inline constexpr size_t kMaxFds = kMaxMemTableRegions;

struct Header {
  uint32_t request;
  uint32_t flags;
  uint32_t size;
};
static_assert(sizeof(Header) == 12);

struct VringState {
  uint32_t index;
  uint32_t num;
};
static_assert(sizeof(VringState) == 8);

struct VringAddr {
  uint32_t index;
  uint32_t flags;
  uint64_t desc_user_addr;
  uint64_t used_user_addr;
  uint64_t avail_user_addr;
  uint64_t log_guest_addr;
};
static_assert(sizeof(VringAddr) == 40);

struct MemRegion {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t mmap_offset;
};
static_assert(sizeof(MemRegion) == 32);

// SET_MEM_TABLE: u32 nregions, u32 padding, then nregions MemRegion.
inline constexpr size_t kMemTableHeader = 8;
// ADD_MEM_REG / REM_MEM_REG: u64 padding, then one MemRegion.
inline constexpr size_t kSingleRegionSize = 8 + sizeof(MemRegion);

// One received message: header, payload (exactly header.size bytes) and fds.
struct Message {
  Header header{};
  std::vector<uint8_t> payload;
  std::vector<ScopedFd> fds;
  // The kernel could not give us every fd that came with the message (MSG_CTRUNC:
  // pfsd is out of fds). The message is read whole; the back-end refuses it.
  bool fds_lost = false;

  uint32_t request() const { return header.request; }
  bool need_reply() const { return (header.flags & kFlagNeedReply) != 0; }
  // Decodes the payload as exactly one T (false when the size differs).
  template <class T>
  bool payload_as(T& out) const;
  // The payload as a u64 (false when it is not exactly 8 bytes).
  bool u64(uint64_t& out) const { return payload_as(out); }
};

// Why receive() did not produce a message.
enum class RecvError {
  kNone,
  kEof,        // orderly shutdown by the front-end before a header
  kIo,         // a socket error (errno is logged by the caller)
  kMalformed,  // bad version, oversized payload, too many fds, short payload
};

// Reads one message from `sock` (blocking). On error `why` gets a short reason.
RecvError receive(int sock, Message& out, std::string* why);

// Sends a reply to `request`: header (version 1, REPLY flag) + payload.
Status send_reply(int sock, uint32_t request, const void* payload, uint32_t size);
inline Status send_u64_reply(int sock, uint32_t request, uint64_t value) {
  return send_reply(sock, request, &value, sizeof(value));
}

// Encodes a front-end message (tests and fuzzers build streams with it).
std::vector<uint8_t> encode(uint32_t request, uint32_t flags, const void* payload, uint32_t size);

template <class T>
bool Message::payload_as(T& out) const {
  static_assert(std::is_trivially_copyable_v<T>);
  if (payload.size() != sizeof(T)) return false;
  std::memcpy(&out, payload.data(), sizeof(T));
  return true;
}

}  // namespace pfs::transport::vhost_user
