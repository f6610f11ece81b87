/*
 * probe.c - the capability probe: which backings work here.
 * The byte layout, the allocation protocol and the validation rules are in
 * docs/abi.md; the comments here only say why the code looks the way it does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "region/region_internal.h"

/* ---------------------------------------------------------------------------
 * Capability probe
 * ------------------------------------------------------------------------- */

static bool probe_map(int fd)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return false;
    *(volatile char *)p = 1;
    munmap(p, 4096);
    return true;
}

int sabre_probe(const char *dir, sabre_caps_t *out)
{
    if (!out)
        return sabre__fail(SABRE_EINVAL, "sabre_probe: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir)
        dir = ".";
    out->page_size = sabre__rg_page_size();
    out->platform = sabre__plat_name();
    out->note = "";
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        out->private_ok = true;
        munmap(p, 4096);
    }
    int fd = memfd_create("sabre-probe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd >= 0) {
        out->memfd_ok = sabre__rg_fallocate_all(fd, 4096) == 0 && probe_map(fd);
        out->memfd_seals_ok = fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0;
        close(fd);
    }
    /* Unique without global state: pid, thread id and the clock. */
    char name[96];
    snprintf(name, sizeof name, "/sabre-probe-%d-%ld-%llx", (int)getpid(),
             (long)syscall(SYS_gettid), (unsigned long long)sabre__now_ns());
    fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        shm_unlink(name);
        out->shm_ok = sabre__rg_fallocate_all(fd, 4096) == 0 && probe_map(fd);
        close(fd);
    }
    struct statvfs sv;
    if (statvfs("/dev/shm", &sv) == 0) {
        out->shm_free = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
        out->shm_total = (uint64_t)sv.f_blocks * (uint64_t)sv.f_frsize;
    }
    char path[SABRE_REGION_NAME_MAX + 96];
    snprintf(path, sizeof path, "%s/.sabre-probe-%d-%ld-%llx", dir, (int)getpid(),
             (long)syscall(SYS_gettid), (unsigned long long)sabre__now_ns());
    if (strlen(dir) < SABRE_REGION_NAME_MAX) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            unlink(path);
            out->file_ok = sabre__rg_fallocate_all(fd, 4096) == 0 && probe_map(fd);
            close(fd);
        }
    }
    out->file_free = sabre__rg_statvfs_free(dir);
    out->hugepage_size = sabre__rg_meminfo_value("Hugepagesize");
    out->hugepages_free = sabre__rg_meminfo_value("HugePages_Free");
    if (out->hugepage_size && out->hugepages_free) {
        p = mmap(NULL, (size_t)out->hugepage_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
        if (p != MAP_FAILED) {
            out->hugepages_ok = true;
            munmap(p, (size_t)out->hugepage_size);
        }
    }
    /* A shared futex word: a wake with no waiter returns 0 when futexes work. */
    _Atomic uint32_t *w =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if ((void *)w != MAP_FAILED) {
        long r = syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1, NULL, NULL, 0);
        out->futex_ok = r >= 0;
        munmap((void *)w, 4096);
    }
    return SABRE_OK;
}
