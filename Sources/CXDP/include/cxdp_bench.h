/*
 * cxdp_bench.h: the C side of the benchmark tooling (bench.c), same
 * conventions as cxdp.h (>= 0 success, -errno failure): the live-frames
 * test run, the AF_PACKET TX ring fallback generator, the UDP relay loop,
 * and the cache-line ping-pong probe.
 */
#ifndef CXDP_BENCH_H
#define CXDP_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include "xdpfwd_bench.h"

/* BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: runs the program
 * `repeat` times on frames initialised from data, `batch_size` frames per
 * batch (<= 256, the veth ring); verdicts are acted on for real. */
int cxdp_test_run_xdp_live(int prog_fd, const void *data, uint32_t len,
                           uint32_t ingress_ifindex, uint32_t repeat,
                           uint32_t batch_size);

/* AF_PACKET TPACKET_V2 TX ring bound to one interface. */
struct cxdp_txring {
	int fd;
	uint8_t *map;
	size_t map_len;
	uint32_t frame_size;
	uint32_t frame_count;
	uint32_t next;
};

/* qdisc_bypass: PACKET_QDISC_BYPASS (straight to the driver). */
int cxdp_txring_open(int ifindex, int qdisc_bypass, struct cxdp_txring *ring);
/* Queues n frames (numbers first..first+n-1, see xfb_gen_patch) built from
 * frame[0..len) and transmits them; returns frames sent or -errno. */
int cxdp_txring_send(struct cxdp_txring *ring, const void *frame, uint32_t len,
                     const struct xfb_gen_cfg *cfg, uint64_t first, uint32_t n);
void cxdp_txring_close(struct cxdp_txring *ring);

/* UDP socket bound to addr:port (network order; port 0: any), optionally
 * connected to peer:peer_port; rcvbuf bytes if > 0; receive timeout 100 ms. */
int cxdp_udp_socket(uint32_t addr, uint16_t port, uint32_t peer,
                    uint16_t peer_port, int rcvbuf);
/* Relays datagrams from in_fd to out_fd with recvmmsg/sendmmsg, `batch`
 * at a time, until *stop becomes non-zero. Adds to *relayed. */
int cxdp_udp_relay(int in_fd, int out_fd, unsigned batch,
                   volatile int *stop, volatile uint64_t *relayed);

/* The AF_PACKET floor (bench_afp_floor.c): FastPath's rings and batching
 * with a fixed full-NAT rewrite and nothing else. Addresses and ports are
 * network order; geometry as FastPath's RingGeometry. */
struct cxdp_afp_floor_cfg {
	int in_ifindex, out_ifindex;
	uint32_t block_size, block_count, frame_size, retire_ms;
	uint32_t tx_block_size, tx_block_count, tx_frame_size, tx_batch;
	uint8_t src_mac[6], dst_mac[6];
	uint32_t listen_addr, source_addr, backend_addr;
	uint16_t listen_port, source_port, backend_port;
	/* 1: send with sendmmsg(2) on a plain packet socket, straight from the
	 * RX block, instead of through a TX ring. */
	int tx_sendmmsg;
};
struct cxdp_afp_floor {
	struct cxdp_afp_floor_cfg cfg;
	int rx_fd, tx_fd;
	void *rx_map, *tx_map;
	size_t rx_len, tx_len;
};
/* Opens the RX ring on in_ifindex and the TX ring (PACKET_QDISC_BYPASS) on
 * out_ifindex. 0 or -errno; on failure nothing stays open. */
int cxdp_afp_floor_open(const struct cxdp_afp_floor_cfg *cfg, struct cxdp_afp_floor *floor);
/* Forwards IPv4 UDP to the listen endpoint until *stop becomes non-zero;
 * *forwarded counts frames queued for TX. */
void cxdp_afp_floor_run(struct cxdp_afp_floor *floor, volatile int *stop, volatile uint64_t *forwarded);
void cxdp_afp_floor_close(struct cxdp_afp_floor *floor);

/* Average round trip (ns) of a cache line bounced between two threads
 * pinned to cpu_a and cpu_b; -errno on failure. */
double cxdp_cacheline_pingpong_ns(int cpu_a, int cpu_b, unsigned rounds);

/* The MAC address of an interface of the calling thread's namespace. */
int cxdp_if_hwaddr(const char *name, uint8_t mac[6]);

/* Pin a task (thread id) to one CPU; the calling thread's id. */
int cxdp_pin_task(int tid, int cpu);
int cxdp_gettid(void);

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t cxdp_monotonic_ns(void);

#endif /* CXDP_BENCH_H */
