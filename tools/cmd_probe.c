/*
 * cmd_probe.c - `sabre probe`: which shared-memory backings work here, how
 * much shared space is free, huge pages (the C counterpart of canUseSAB()).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "sabre/region.h"

static void probe_usage(FILE *f)
{
    fprintf(f, "usage: sabre probe [--json] [--dir D]\n"
               "\n"
               "Reports which region backings work on this system (private memory,\n"
               "memfd with seals, POSIX shm, files in D), shared futexes, free space in\n"
               "/dev/shm and in D, and huge pages.\n"
               "\n"
               "  --json     print one JSON object\n"
               "  --dir D    where FILE regions would go (default: the current directory)\n"
               "  -h, --help this help\n");
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}
static const char *tf(bool b)
{
    return b ? "true" : "false";
}

int sabre_tool_cmd_probe(int argc, char **argv)
{
    const char *dir = ".";
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            probe_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--dir")) {
            if (++i >= argc) {
                fprintf(stderr, "sabre probe: --dir needs a directory\n");
                return 2;
            }
            dir = argv[i];
        } else {
            fprintf(stderr, "sabre probe: unknown argument '%s'\n", argv[i]);
            probe_usage(stderr);
            return 2;
        }
    }
    sabre_caps_t c;
    int rc = sabre_probe(dir, &c);
    if (rc != SABRE_OK) {
        fprintf(stderr, "sabre probe: %s\n", sabre_last_error());
        return 1;
    }
    bool shared = c.memfd_ok || c.shm_ok || c.file_ok;
    if (json) {
        printf("{\"private_ok\": %s, \"memfd_ok\": %s, \"memfd_seals_ok\": %s, \"shm_ok\": %s, "
               "\"file_ok\": %s, \"futex_ok\": %s, \"hugepages_ok\": %s, "
               "\"cross_process_ok\": %s, \"shm_free\": %llu, \"shm_total\": %llu, "
               "\"file_free\": %llu, \"page_size\": %llu, \"hugepage_size\": %llu, "
               "\"hugepages_free\": %llu, \"abi_major\": %d, \"abi_minor\": %d}\n",
               tf(c.private_ok), tf(c.memfd_ok), tf(c.memfd_seals_ok), tf(c.shm_ok), tf(c.file_ok),
               tf(c.futex_ok), tf(c.hugepages_ok), tf(shared && c.futex_ok),
               (unsigned long long)c.shm_free, (unsigned long long)c.shm_total,
               (unsigned long long)c.file_free, (unsigned long long)c.page_size,
               (unsigned long long)c.hugepage_size, (unsigned long long)c.hugepages_free,
               SABRE_ABI_MAJOR, SABRE_ABI_MINOR);
        return 0;
    }
    printf("sabre probe (region ABI %d.%d)\n", SABRE_ABI_MAJOR, SABRE_ABI_MINOR);
    printf("  private memory (threads)   %s\n", yes_no(c.private_ok));
    printf("  memfd                      %s (seals: %s)\n", yes_no(c.memfd_ok),
           yes_no(c.memfd_seals_ok));
    printf("  POSIX shm (/dev/shm)       %s, %llu of %llu bytes free (%.1f GiB)\n",
           yes_no(c.shm_ok), (unsigned long long)c.shm_free, (unsigned long long)c.shm_total,
           (double)c.shm_free / (1024.0 * 1024.0 * 1024.0));
    printf("  files in %-17s %s, %llu bytes free\n", dir, yes_no(c.file_ok),
           (unsigned long long)c.file_free);
    printf("  shared futex               %s\n", yes_no(c.futex_ok));
    printf("  page size                  %llu\n", (unsigned long long)c.page_size);
    printf("  huge pages                 %s (size %llu, %llu free)\n", yes_no(c.hugepages_ok),
           (unsigned long long)c.hugepage_size, (unsigned long long)c.hugepages_free);
    printf("  cross-process sharing      %s\n", yes_no(shared && c.futex_ok));
    return 0;
}
