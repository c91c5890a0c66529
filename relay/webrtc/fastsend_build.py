"""Builds relay.webrtc._fastsend (cffi API mode, Debian's C compiler) from fastsend.c.

`pip install -e .` runs it through setup.py (an optional extension: without a compiler the
install goes on and the relay sends from Python, saying so in its log); by hand:
`.venv/bin/python relay/webrtc/fastsend_build.py` builds it in place.
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI

SOURCE = Path(__file__).with_name("fastsend.c")

CDEF = """
typedef int (*fs_protect_fn)(void *ctx, void *rtp, int *len);
struct fs_viewer {
    int fd;
    int addr_len;
    unsigned char addr[28];
    void *srtp;
    uint32_t ts_base;
    uint16_t seq;
    uint8_t payload_type;
    int header_len;
    int abs_offset;
    uint8_t header[64];
    uint64_t packets;
    uint64_t octets;
    uint32_t dropped;
    uint32_t protect_failed;
    int last_errno;
    double sent_at;
};
int fs_slot_size(void);
int fs_batch_size(void);
int fs_gso_enabled(void);
int fs_set_address(struct fs_viewer *v, int family, const unsigned char *ip, int port, uint32_t scope_id);
long fs_send_frame(fs_protect_fn protect, struct fs_viewer *viewers, int n_viewers,
                   const unsigned char *data, const int *lens, int n_payloads,
                   uint32_t out_ts, uint32_t abs_send_time, unsigned char *scratch);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
# (set_source takes the C text; the path is relative to wherever setup.py runs, so read it here)
ffibuilder.set_source("relay.webrtc._fastsend", SOURCE.read_text(), extra_compile_args=["-O2"])

if __name__ == "__main__":
    import os

    os.chdir(Path(__file__).resolve().parents[2])
    ffibuilder.compile(verbose=True)
