/*
 * fdpass.c - passing region fds between processes over unix sockets.
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
 * fd passing
 * ------------------------------------------------------------------------- */

#define FD_MSG_MAX 4096u

int sabre_fd_send(int sock, int fd, const void *msg, size_t len)
{
    if (len > FD_MSG_MAX)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_send: message of %zu bytes exceeds %u", len,
                           FD_MSG_MAX);
    if (len && !msg)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_send: message is NULL");
    /* A 4-byte length prefix, so the receiver can tell 0 bytes from 1 and
     * reassemble a stream socket's partial reads. */
    uint32_t hdr = (uint32_t)len;
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {(void *)msg, len}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = len ? 2 : 1;
    if (fd >= 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    size_t total = sizeof hdr + len, sent = 0;
    while (sent < total) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET)
                return sabre__fail(SABRE_EPEER, "sabre_fd_send: peer closed the socket");
            return sabre__fail_errno(errno, "sabre_fd_send: sendmsg on socket %d", sock);
        }
        sent += (size_t)n;
        /* The descriptor went with the first bytes; send the rest plainly. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        size_t skip = (size_t)n;
        while (mh.msg_iovlen > 0 && skip >= mh.msg_iov[0].iov_len) {
            skip -= mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + skip;
            mh.msg_iov[0].iov_len -= skip;
        }
    }
    return SABRE_OK;
}

/* Reads exactly `len` bytes (after a first recvmsg got part of a message). */
static int recv_exact(int sock, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(sock, (char *)buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sabre__fail_errno(errno, "sabre_fd_recv: recv on socket %d", sock);
        if (n == 0)
            return sabre__fail(SABRE_EPEER, "sabre_fd_recv: peer closed the socket mid-message");
        got += (size_t)n;
    }
    return SABRE_OK;
}

int sabre_fd_recv(int sock, int *fd, void *msg, size_t cap, size_t *len)
{
    if (!fd)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_recv: fd is NULL");
    *fd = -1;
    if (len)
        *len = 0;
    if (cap && !msg)
        return sabre__fail(SABRE_EINVAL, "sabre_fd_recv: message buffer is NULL");
    /* A stream socket is read header first, then exactly the payload: a
     * larger read could swallow the next message.  A datagram or seqpacket
     * socket delivers the whole record to one recvmsg (a second one would
     * wait for the next record), so it is read in one go. */
    int type = SOCK_STREAM;
    socklen_t tlen = sizeof type;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0)
        return sabre__fail_errno(errno, "sabre_fd_recv: socket %d", sock);
    bool records = type != SOCK_STREAM;
    uint32_t hdr = 0;
    char tmp[FD_MSG_MAX];
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {tmp, sizeof tmp}};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = records ? 2 : 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return sabre__fail_errno(errno, "sabre_fd_recv: recvmsg on socket %d", sock);
    if (n == 0)
        return sabre__fail(SABRE_EPEER, "sabre_fd_recv: peer closed the socket");
    int got = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t k = 0; k < nfd; k++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
            if (got < 0)
                got = f;
            else
                close(f); /* only one descriptor is expected */
        }
    }
    int rc = SABRE_OK;
    if (mh.msg_flags & MSG_CTRUNC)
        rc = sabre__fail(SABRE_EIO, "sabre_fd_recv: control data truncated");
    if (rc == SABRE_OK && records && (mh.msg_flags & MSG_TRUNC))
        rc = sabre__fail(SABRE_EIO,
                         "sabre_fd_recv: record longer than %zu bytes (not a "
                         "sabre_fd_send peer?)",
                         sizeof hdr + sizeof tmp);
    if (rc == SABRE_OK && records && (size_t)n < sizeof hdr)
        rc = sabre__fail(SABRE_EIO, "sabre_fd_recv: record of %zd bytes has no length header", n);
    if (rc == SABRE_OK && !records && (size_t)n < sizeof hdr)
        rc = recv_exact(sock, (char *)&hdr + n, sizeof hdr - (size_t)n);
    if (rc == SABRE_OK && hdr > FD_MSG_MAX)
        rc = sabre__fail(SABRE_EIO,
                         "sabre_fd_recv: message length %u exceeds %u (not a "
                         "sabre_fd_send peer?)",
                         hdr, FD_MSG_MAX);
    if (rc == SABRE_OK && records && (size_t)n - sizeof hdr != hdr)
        rc = sabre__fail(SABRE_EIO,
                         "sabre_fd_recv: record carries %zu payload bytes, its "
                         "header says %u",
                         (size_t)n - sizeof hdr, hdr);
    if (rc == SABRE_OK && hdr > 0) {
        if (!records)
            rc = recv_exact(sock, tmp, hdr);
        if (rc == SABRE_OK && hdr > cap)
            rc = sabre__fail(SABRE_ERANGE,
                             "sabre_fd_recv: message of %u bytes does not fit "
                             "the %zu-byte buffer",
                             hdr, cap);
        if (rc == SABRE_OK)
            memcpy(msg, tmp, hdr);
    }
    if (rc != SABRE_OK) {
        if (got >= 0)
            close(got);
        return rc;
    }
    *fd = got;
    if (len)
        *len = hdr;
    return SABRE_OK;
}
