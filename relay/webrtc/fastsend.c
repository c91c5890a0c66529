/* One call per frame and camera: for every viewer of the camera, write the RTP header of each
 * of the frame's shared payloads, SRTP-protect the packet with the viewer's own libsrtp session
 * and hand the viewer's packets to the kernel with one sendmmsg, runs of one size as one UDP GSO
 * message each (relay/webrtc/fastsend.py says
 * why; relay/webrtc/fastsend_build.py builds it with cffi).
 *
 * libsrtp is not linked here: `protect` is pylibsrtp's own srtp_protect (libsrtp 2.x signature),
 * passed as a function pointer, and `srtp` the session pointer aiortc's DTLS transport made with
 * it. Two copies of libsrtp in one process would each have their own idea of an srtp_t, so the
 * session is only ever touched by the library that created it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* sendmmsg */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define FS_BATCH 64        /* packets per sendmmsg */
#define FS_SLOT 2048       /* bytes per packet slot in the scratch buffer */
#define FS_TRAILER 148     /* room libsrtp may append: auth tag + MKI (pylibsrtp's SRTP_MAX_TRAILER_LEN) */

typedef int (*fs_protect_fn)(void *ctx, void *rtp, int *len);

struct fs_viewer {
    int fd;                  /* a dup of the viewer's ICE socket, owned by the Python side */
    int addr_len;
    unsigned char addr[28];  /* struct sockaddr_in or sockaddr_in6 */
    void *srtp;              /* srtp_t of the viewer's DTLS transport (pylibsrtp's libsrtp) */
    uint32_t ts_base;        /* RTP timestamp = ts_base + the camera's outgoing 90 kHz time */
    uint16_t seq;            /* next sequence number */
    uint8_t payload_type;
    int header_len;
    int abs_offset;          /* offset of abs-send-time's 3 bytes in header, -1 if not negotiated */
    uint8_t header[64];      /* the viewer's serialised header: SSRC, extensions */
    uint64_t packets;        /* packets handed to the kernel */
    uint64_t octets;         /* their payload bytes (what RTCP sender reports count) */
    uint32_t dropped;        /* packets the kernel refused (full socket, ICMP errors) */
    uint32_t protect_failed; /* packets libsrtp refused */
    int last_errno;
    double sent_at;          /* CLOCK_REALTIME (as Python's time.time()) after this frame's last send */
};

int fs_slot_size(void) { return FS_SLOT; }
int fs_batch_size(void) { return FS_BATCH; }

int fs_set_address(struct fs_viewer *v, int family, const unsigned char *ip, int port, uint32_t scope_id)
{
    union { struct sockaddr_in v4; struct sockaddr_in6 v6; } a;
    memset(&a, 0, sizeof a);
    if (family == AF_INET) {
        a.v4.sin_family = AF_INET;
        a.v4.sin_port = htons((uint16_t)port);
        memcpy(&a.v4.sin_addr, ip, 4);
        v->addr_len = sizeof a.v4;
    } else if (family == AF_INET6) {
        a.v6.sin6_family = AF_INET6;
        a.v6.sin6_port = htons((uint16_t)port);
        memcpy(&a.v6.sin6_addr, ip, 16);
        a.v6.sin6_scope_id = scope_id;
        v->addr_len = sizeof a.v6;
    } else {
        return -1;
    }
    memset(v->addr, 0, sizeof v->addr);
    memcpy(v->addr, &a, (size_t)v->addr_len);
    return 0;
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  /* linux/udp.h, Linux 4.18+ */
#endif
#define FS_GSO_BYTES 65000  /* one GSO message must fit one IP datagram's length field */

static int gso_enabled = 1;  /* off for the process once the kernel refuses it */

/* Send `count` protected packets of one viewer: runs of one size (plus one shorter packet that
 * closes the run) as one message with UDP GSO, the kernel cutting it into datagrams, and all the
 * messages in one sendmmsg. What the kernel refuses is counted, not queued: it is media over
 * UDP, and the viewer's NACK brings back what matters. */
static void send_batch(struct fs_viewer *v, struct iovec *iov, int count)
{
    struct mmsghdr msgs[FS_BATCH];
    union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } control[FS_BATCH];
    int packets_in[FS_BATCH];
    int groups = 0;
    for (int i = 0; i < count; groups++) {
        int n = 1;
        size_t size = iov[i].iov_len, total = size;
        while (gso_enabled && i + n < count && total + iov[i + n].iov_len <= FS_GSO_BYTES) {
            size_t len = iov[i + n].iov_len;
            if (len > size)
                break;
            n++;
            total += len;
            if (len < size)
                break;
        }
        struct msghdr *h = &msgs[groups].msg_hdr;
        memset(&msgs[groups], 0, sizeof msgs[groups]);
        h->msg_name = v->addr;
        h->msg_namelen = (socklen_t)v->addr_len;
        h->msg_iov = &iov[i];
        h->msg_iovlen = (size_t)n;
        if (n > 1) {
            uint16_t segment = (uint16_t)size;
            h->msg_control = control[groups].buf;
            h->msg_controllen = sizeof control[groups].buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(h);
            c->cmsg_level = IPPROTO_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof segment);
            memcpy(CMSG_DATA(c), &segment, sizeof segment);
        }
        packets_in[groups] = n;
        i += n;
    }
    int done = 0, retried = 0, first_packet = 0;
    while (done < groups) {
        int sent = sendmmsg(v->fd, msgs + done, (unsigned int)(groups - done), MSG_DONTWAIT);
        if (sent > 0) {
            for (int g = done; g < done + sent; g++) {
                v->packets += (uint64_t)packets_in[g];
                first_packet += packets_in[g];
            }
            done += sent;
            continue;
        }
        if (sent < 0 && errno == EINTR)
            continue;
        v->last_errno = sent < 0 ? errno : 0;
        if (sent < 0 && gso_enabled && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
            gso_enabled = 0;  /* no GSO here: the rest again, a datagram per message */
            send_batch(v, iov + first_packet, count - first_packet);
            return;
        }
        /* An ICMP error of an earlier datagram is reported once by a later send: try again once. */
        if (sent < 0 && (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) && !retried) {
            retried = 1;
            continue;
        }
        v->dropped += (uint32_t)(count - first_packet);
        return;
    }
}

int fs_gso_enabled(void) { return gso_enabled; }

/* The frame's payloads are `data` cut at `lens` (n_payloads of them); the marker bit goes on
 * the last. `scratch` holds FS_BATCH * FS_SLOT bytes. Returns the packets handed to the kernel. */
long fs_send_frame(fs_protect_fn protect, struct fs_viewer *viewers, int n_viewers,
                   const unsigned char *data, const int *lens, int n_payloads,
                   uint32_t out_ts, uint32_t abs_send_time, unsigned char *scratch)
{
    struct iovec iov[FS_BATCH];
    long total = 0;

    for (int vi = 0; vi < n_viewers; vi++) {
        struct fs_viewer *v = &viewers[vi];
        uint64_t before = v->packets;
        uint32_t ts = v->ts_base + out_ts;
        if (v->abs_offset >= 0 && v->abs_offset + 3 <= v->header_len) {
            v->header[v->abs_offset] = (uint8_t)(abs_send_time >> 16);
            v->header[v->abs_offset + 1] = (uint8_t)(abs_send_time >> 8);
            v->header[v->abs_offset + 2] = (uint8_t)abs_send_time;
        }
        const unsigned char *payload = data;
        int queued = 0;
        for (int pi = 0; pi < n_payloads; pi++) {
            int plen = lens[pi];
            unsigned char *slot = scratch + (size_t)queued * FS_SLOT;
            uint16_t seq = v->seq++;
            if (v->header_len + plen + FS_TRAILER > FS_SLOT) {
                v->protect_failed++;
                payload += plen;
                continue;
            }
            memcpy(slot, v->header, (size_t)v->header_len);
            slot[1] = (uint8_t)((pi == n_payloads - 1 ? 0x80 : 0) | (v->payload_type & 0x7f));
            slot[2] = (uint8_t)(seq >> 8);
            slot[3] = (uint8_t)seq;
            slot[4] = (uint8_t)(ts >> 24);
            slot[5] = (uint8_t)(ts >> 16);
            slot[6] = (uint8_t)(ts >> 8);
            slot[7] = (uint8_t)ts;
            memcpy(slot + v->header_len, payload, (size_t)plen);
            payload += plen;
            int len = v->header_len + plen;
            if (protect(v->srtp, slot, &len) != 0) {
                v->protect_failed++;
                continue;
            }
            v->octets += (uint64_t)plen;
            iov[queued].iov_base = slot;
            iov[queued].iov_len = (size_t)len;
            if (++queued == FS_BATCH) {
                send_batch(v, iov, queued);
                queued = 0;
            }
        }
        if (queued)
            send_batch(v, iov, queued);
        /* when this viewer's packets left: the relay-added latency a viewer sees (the last of
         * 100 viewers gets a frame ~5 ms after the first on loopback) */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        v->sent_at = (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
        total += (long)(v->packets - before);
    }
    return total;
}
