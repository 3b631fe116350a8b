// A main() for builds without a fuzzing engine (g++, or clang without libFuzzer):
// runs every file argument, and every regular file inside every directory
// argument, through LLVMFuzzerTestOneInput once. ctest uses it to replay the
// corpora and the crash reproducers as a regression suite.
//
// An input that trips an oracle or a sanitizer aborts the process, so the test
// fails with the oracle's message; the name of the input is printed before it
// runs so the failing file is easy to find.
//
// Each input runs K times in a row with -runs=K (as libFuzzer does with files)
// or PFS_REPLAY_REPEAT=K in the environment (the flag wins): a race found by
// fuse_race shows only in some of the runs.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional, as with libFuzzer.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool read_file(const std::filesystem::path& path, std::vector<uint8_t>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// Collects the inputs named by one argument, sorted for a stable order.
std::vector<std::filesystem::path> inputs_of(const std::filesystem::path& arg) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  if (std::filesystem::is_directory(arg, ec)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(arg, ec)) {
      if (e.is_regular_file(ec)) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
  } else {
    out.push_back(arg);
  }
  return out;
}

// A repeat count from "-runs=K" or PFS_REPLAY_REPEAT; at least 1.
size_t repeat_count(int argc, char** argv) {
  const char* text = std::getenv("PFS_REPLAY_REPEAT");
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("-runs=")) text = argv[i] + 6;
  }
  if (text == nullptr) return 1;
  const long long k = std::atoll(text);
  return k > 0 ? static_cast<size_t>(k) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  const size_t repeat = repeat_count(argc, argv);
  size_t ran = 0;
  size_t rejected = 0;
  size_t unreadable = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("-")) continue;  // libFuzzer-style flags are accepted and ignored
    for (const auto& path : inputs_of(arg)) {
      std::vector<uint8_t> bytes;
      if (!read_file(path, bytes)) {
        std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
        ++unreadable;
        continue;
      }
      // An exact-size copy, so that ASan catches a read one byte past the input.
      auto copy = std::make_unique_for_overwrite<uint8_t[]>(bytes.empty() ? 1 : bytes.size());
      std::copy(bytes.begin(), bytes.end(), copy.get());
      // Named before it runs: if it aborts, this is the last line printed.
      std::fprintf(stderr, "replay: running %s (%zu bytes, %zu time(s))\n", path.c_str(),
                   bytes.size(), repeat);
      for (size_t k = 0; k < repeat; ++k) {
        if (LLVMFuzzerTestOneInput(copy.get(), bytes.size()) != 0) ++rejected;
        ++ran;
      }
    }
  }
  std::printf("replay: %zu inputs run, %zu rejected by the target, %zu unreadable\n", ran, rejected,
              unreadable);
  return unreadable == 0 ? 0 : 1;
}
