/* Preloaded into `sluice serve` under valgrind by bench/cost (and only there).
 *
 * Valgrind 3.19 (Debian 12) rewrites the signal mask passed to sigsuspend in place, which
 * crashes valgrind itself when the mask is in read-only memory, as libdispatch's is (every Swift
 * program with an async main ends its main thread in dispatch_main -> sigsuspend). Passing a copy
 * on the stack changes nothing for the program. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, 8 /* the kernel's sigset size on Linux */);
}
