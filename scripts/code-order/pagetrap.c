/*
 * pagetrap: records which pages of a program's code run, page by page, for
 * scripts/code-order.sh. Loaded with LD_PRELOAD into a profiling run only; never shipped.
 *
 * The kernel maps up to 64 KiB around each touched page of a file mapping, so the program's
 * resident set cannot tell which pages actually ran. Instead, the constructor makes the
 * executable's code PROT_NONE; the first instruction fetched from each page then raises SIGSEGV,
 * and the handler (which lives here, outside the trapped code) records the page and gives it back
 * its protection. Rust's runtime installs its own SIGSEGV handler only when none is installed, so
 * this one stays.
 *
 * SIGUSR2 writes the pages run so far to $PAGETRAP_OUT.startup and traps every page again;
 * SIGUSR1 writes the pages run since then to $PAGETRAP_OUT.steady. Each line is a page's offset
 * in the executable file, in hex.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_PAGES (1 << 16)

static uintptr_t text_start, text_end, text_offset;
static unsigned char touched[MAX_PAGES];
static const char *out_base;

static void arm(void) {
    memset(touched, 0, sizeof touched);
    mprotect((void *)text_start, text_end - text_start, PROT_NONE);
}

static void dump(const char *suffix) {
    char path[4096];
    snprintf(path, sizeof path, "%s.%s", out_base, suffix);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    for (uintptr_t i = 0; i < (text_end - text_start) / 4096 && i < MAX_PAGES; i++) {
        if (!touched[i]) continue;
        char line[32];
        int n = snprintf(line, sizeof line, "%lx\n", (unsigned long)(text_offset + i * 4096));
        if (write(fd, line, n) != n) break;
    }
    close(fd);
}

static void on_segv(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    uintptr_t addr = (uintptr_t)info->si_addr;
    if (addr >= text_start && addr < text_end) {
        uintptr_t page = addr & ~(uintptr_t)4095;
        touched[(page - text_start) / 4096] = 1;
        mprotect((void *)page, 4096, PROT_READ | PROT_EXEC);
        return;
    }
    signal(sig, SIG_DFL); /* a real crash: let it happen */
}

static void on_usr2(int sig) { (void)sig; dump("startup"); arm(); }
static void on_usr1(int sig) { (void)sig; dump("steady"); }

__attribute__((constructor)) static void pagetrap_init(void) {
    out_base = getenv("PAGETRAP_OUT");
    if (!out_base) return;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return;
    char line[8192];
    while (fgets(line, sizeof line, maps)) {
        unsigned long s, e, off;
        char perms[8], path[4096] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &s, &e, perms, &off, path) < 4) continue;
        if (perms[2] == 'x' && strcmp(path, exe) == 0) {
            text_start = s; text_end = e; text_offset = off;
            break;
        }
    }
    fclose(maps);
    if (!text_start) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGSEGV, &sa, NULL);
    signal(SIGUSR2, on_usr2);
    signal(SIGUSR1, on_usr1);
    arm();
}
