// h5::ReadingScope: a fault inside HDF5 while it reads an input file is reported as
// a damaged file (exit 2), not as a crash of bsmhunt.
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "Hdf5.hpp"

// Under AddressSanitizer (the fuzz and sanitize builds) its own handler reports the
// fault with the stack, which the fuzzers use to tell HDF5's faults from bsmhunt's.
#if defined(__SANITIZE_ADDRESS__)
#define BSMHUNT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BSMHUNT_ASAN 1
#endif
#endif

namespace bsmhunt::io::h5 {

namespace {

// The executable segments of a shared library, found once.
struct Range {
  uintptr_t begin = 0, end = 0;
};
struct Code {
  static constexpr int kMax = 8;
  Range ranges[kMax];
  int n = 0;
  uintptr_t base = 0;
  bool contains(uintptr_t pc) const {
    for (int i = 0; i < n; ++i)
      if (pc >= ranges[i].begin && pc < ranges[i].end) return true;
    return false;
  }
};
Code g_hdf5, g_libc;

struct sigaction g_previous_segv, g_previous_bus;

// Per thread: the message to print, formatted when the scope opens (a signal handler
// may not allocate or format).
thread_local bool t_reading = false;
thread_local char t_message[1024];
thread_local std::size_t t_message_length = 0;

int collect_segments(dl_phdr_info* info, std::size_t, void* code) {
  Code& c = *static_cast<Code*>(code);
  if (info->dlpi_addr != c.base) return 0;
  for (int i = 0; i < info->dlpi_phnum && c.n < Code::kMax; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
      c.ranges[c.n++] = {info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz};
  }
  return 1;
}

// The code of the library that holds `symbol`.
Code code_of(void* symbol) {
  Code c;
  Dl_info where{};
  if (dladdr(symbol, &where) == 0 || where.dli_fbase == nullptr) return c;
  c.base = reinterpret_cast<uintptr_t>(where.dli_fbase);
  dl_iterate_phdr(collect_segments, &c);
  return c;
}

// Whether the fault is HDF5's: its own code, or a libc routine it called (memcpy of
// a damaged length), whose return address into HDF5 is on top of the stack on x86-64.
bool fault_in_hdf5(void* context) {
#if defined(__x86_64__)
  const auto& regs = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
  const auto pc = uintptr_t(regs[REG_RIP]);
  if (g_hdf5.contains(pc)) return true;
  return g_libc.contains(pc) && g_hdf5.contains(*reinterpret_cast<const uintptr_t*>(regs[REG_RSP]));
#elif defined(__aarch64__)
  const auto& m = static_cast<ucontext_t*>(context)->uc_mcontext;
  return g_hdf5.contains(uintptr_t(m.pc)) || (g_libc.contains(uintptr_t(m.pc)) && g_hdf5.contains(uintptr_t(m.regs[30])));
#else
  (void)context;
  return false;
#endif
}

void on_fault(int signal_number, siginfo_t* info, void* context) {
  if (t_reading && fault_in_hdf5(context)) {
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, t_message, t_message_length);
    _exit(2);
  }
  // Not a damaged input: the handler that was there before (Open MPI's, or the
  // default) sees the fault again when the instruction re-runs.
  sigaction(signal_number, signal_number == SIGSEGV ? &g_previous_segv : &g_previous_bus, nullptr);
  if (info->si_code <= 0) raise(signal_number);  // sent by a process (kill): no instruction re-runs
}

void install_once() {
#ifdef BSMHUNT_ASAN
  return;
#endif
  static std::once_flag once;
  std::call_once(once, [] {
    g_hdf5 = code_of(reinterpret_cast<void*>(&H5Fopen));
    g_libc = code_of(reinterpret_cast<void*>(&std::memcpy));
    if (g_hdf5.n == 0) return;
    struct sigaction action {};
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &g_previous_segv);
    sigaction(SIGBUS, &action, &g_previous_bus);
  });
}

}  // namespace

ReadingScope::ReadingScope(const std::string& file) {
  if (t_reading) return;  // nested: the outer scope names the file
  install_once();
  const auto text = fmt::format(
      "error: {}: HDF5 crashed reading it (a memory fault inside the HDF5 library): the file is damaged where "
      "HDF5 1.10 keeps no checksum; copy it again from its source or write it again\n",
      file);
  t_message_length = std::min(text.size(), sizeof(t_message));
  std::memcpy(t_message, text.data(), t_message_length);
  t_reading = true;
  active_ = true;
}

ReadingScope::~ReadingScope() {
  if (active_) t_reading = false;
}

}  // namespace bsmhunt::io::h5
