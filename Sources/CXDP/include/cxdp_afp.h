/*
 * cxdp_afp.h: AF_PACKET rings for FastPath. Setup (socket options, mmap)
 * lives in afp.c behind one convention (fd or -errno, the failed call's
 * name in *failed_call); the per-packet accessors are static inline, so
 * Swift's optimiser inlines them into the hot loop. They hide the
 * tpacket_block_desc union and the memory barriers the ring protocol needs.
 */
#ifndef CXDP_AFP_H
#define CXDP_AFP_H

#include <stddef.h>
#include <stdint.h>
#include <endian.h>
#include <string.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>

/* RX: a TPACKET_V3 ring bound to ifindex (all protocols, incoming only),
 * in PACKET_FANOUT_HASH group fanout_id when fanout_id >= 0. */
int cxdp_afp_rx_open(int ifindex, uint32_t block_size, uint32_t block_nr, uint32_t frame_size,
                     uint32_t retire_ms, int fanout_id, void **ring, const char **failed_call);
/* TX: a TPACKET_V2 PACKET_TX_RING bound to ifindex; qdisc_bypass sets
 * PACKET_QDISC_BYPASS. Receives nothing (protocol 0). PACKET_VNET_HDR is
 * on: each frame starts with a virtio_net_hdr (cxdp_afp_tx_submit fills it)
 * so the kernel copies the packet into a linear skb. */
int cxdp_afp_tx_open(int ifindex, uint32_t block_size, uint32_t block_nr, uint32_t frame_size,
                     int qdisc_bypass, void **ring, const char **failed_call);
/* Packets the RX ring dropped (full) since the last call: PACKET_STATISTICS,
 * which resets the kernel's counters when read. 0 or -errno. */
int cxdp_afp_rx_drops(int fd, uint64_t *drops);
/* Closes the socket and unmaps its ring. */
void cxdp_afp_close(int fd, void *ring, size_t ring_len);
/* Kicks the TX ring: the kernel takes SEND_REQUEST frames in ring order
 * until the first it cannot take. 0 or -errno (-EAGAIN: socket buffer full;
 * -ENOBUFS: the device refused a frame, which tpacket_snd leaves queued;
 * -ENETDOWN/-ENXIO: the device is down or gone). TXCursor.kick says more. */
int cxdp_afp_tx_kick(int fd);
/* Raw IPv4 socket (IP_HDRINCL) for the slow path; sends one IPv4 packet. */
int cxdp_raw_ipv4_open(const char **failed_call);
int cxdp_raw_ipv4_send(int fd, const void *ip_packet, size_t len, uint32_t daddr_be);
/* Raw IPv6 socket (IPPROTO_RAW: header included) for the slow path; sends
 * one IPv6 packet to its destination address. */
int cxdp_raw_ipv6_open(const char **failed_call);
int cxdp_raw_ipv6_send(int fd, const void *ip6_packet, size_t len);

/* GRO of a device (ETHTOOL_GGRO/SGRO): 1 on, 0 off, or -errno. GRO merges
 * TCP segments before AF_PACKET taps see them; FastPath forwards packets as
 * they arrived, so attach turns it off. */
int cxdp_gro_get(const char *ifname);
int cxdp_gro_set(const char *ifname, int on);

/* Marks every descriptor from lowfd up close-on-exec, so a spawned
 * long-lived process holds no pipe or socket of ours (a caller waiting for
 * EOF on our stderr would wait for the forwarder's lifetime). */
int cxdp_cloexec_from(int lowfd);

/* glibc's POSIX_SPAWN_SETSID (needs _GNU_SOURCE, which Swift lacks). */
enum { CXDP_POSIX_SPAWN_SETSID = 0x80 };

/* ---- RX ring, per block and per packet ----------------------------- */

static inline struct tpacket_block_desc *cxdp_afp_block(void *ring, uint32_t block_size, uint32_t index)
{
	return (struct tpacket_block_desc *)((uint8_t *)ring + (size_t)block_size * index);
}

/* The block belongs to user space (acquire: its packets are visible). */
static inline int cxdp_afp_block_ready(struct tpacket_block_desc *b)
{
	return (__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}

static inline uint32_t cxdp_afp_block_packets(const struct tpacket_block_desc *b)
{
	return b->hdr.bh1.num_pkts;
}

static inline struct tpacket3_hdr *cxdp_afp_block_first(struct tpacket_block_desc *b)
{
	return (struct tpacket3_hdr *)((uint8_t *)b + b->hdr.bh1.offset_to_first_pkt);
}

/* Hands the block back to the kernel (release: our writes are done). */
static inline void cxdp_afp_block_release(struct tpacket_block_desc *b)
{
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

static inline struct tpacket3_hdr *cxdp_afp_next(struct tpacket3_hdr *p)
{
	return (struct tpacket3_hdr *)((uint8_t *)p + p->tp_next_offset);
}

static inline uint8_t *cxdp_afp_data(struct tpacket3_hdr *p) { return (uint8_t *)p + p->tp_mac; }
static inline uint32_t cxdp_afp_snaplen(const struct tpacket3_hdr *p) { return p->tp_snaplen; }
static inline uint32_t cxdp_afp_len(const struct tpacket3_hdr *p) { return p->tp_len; }
static inline uint32_t cxdp_afp_status(const struct tpacket3_hdr *p) { return p->tp_status; }

/* Writable bytes in front of the frame: from the end of the sockaddr_ll the
 * kernel fills to tp_mac (14 for Ethernet without PACKET_RESERVE). */
static inline uint32_t cxdp_afp_headroom(const struct tpacket3_hdr *p)
{
	uint32_t end = TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sizeof(struct sockaddr_ll);
	return p->tp_mac > end ? p->tp_mac - end : 0;
}

/* The outer VLAN tag the kernel took off the frame into skb metadata before
 * the tap (valid with TP_STATUS_VLAN_VALID), host order; its TPID is
 * 802.1Q when the kernel does not report one. */
static inline uint16_t cxdp_afp_vlan_tci(const struct tpacket3_hdr *p) { return (uint16_t)p->hv1.tp_vlan_tci; }
static inline uint16_t cxdp_afp_vlan_tpid(const struct tpacket3_hdr *p)
{
	return (p->tp_status & TP_STATUS_VLAN_TPID_VALID) ? p->hv1.tp_vlan_tpid : 0x8100;
}

/* ---- worker report: written by a worker, read by the publisher ------- */

static inline void cxdp_store_relaxed_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t cxdp_load_relaxed_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* ---- TX ring, per frame ------------------------------------------------ */

static inline struct tpacket2_hdr *cxdp_afp_tx_frame(void *ring, uint32_t frame_size, uint32_t index)
{
	return (struct tpacket2_hdr *)((uint8_t *)ring + (size_t)frame_size * index);
}

/* The frame is free for a new packet (the kernel sent the last one). */
static inline int cxdp_afp_tx_available(struct tpacket2_hdr *f)
{
	uint32_t s = __atomic_load_n(&f->tp_status, __ATOMIC_ACQUIRE);
	return s == TP_STATUS_AVAILABLE || (s & TP_STATUS_WRONG_FORMAT);
}

/* The kernel has not taken the frame (queued, SEND_REQUEST). */
static inline int cxdp_afp_tx_queued(struct tpacket2_hdr *f)
{
	return __atomic_load_n(&f->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_SEND_REQUEST;
}

/* Turns a queued frame into one tpacket_snd skips unsent: a length shorter
 * than the virtio_net_hdr fails its parse, and PACKET_LOSS frees the slot
 * and moves on, silently (a length over the slot would log each time).
 * Only between sends: the kernel reads queued frames only inside send(). */
static inline void cxdp_afp_tx_discard(struct tpacket2_hdr *f) { f->tp_len = 0; }
static inline int cxdp_afp_tx_discarded(const struct tpacket2_hdr *f) { return f->tp_len == 0; }

/* Where a frame's data starts (TPACKET_V2 without PACKET_TX_HAS_OFF): the
 * virtio_net_hdr, then the packet. */
static inline struct virtio_net_hdr *cxdp_afp_tx_vnet(struct tpacket2_hdr *f)
{
	return (struct virtio_net_hdr *)((uint8_t *)f + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll));
}

/* Where a frame's packet bytes go. */
static inline uint8_t *cxdp_afp_tx_data(struct tpacket2_hdr *f)
{
	return (uint8_t *)cxdp_afp_tx_vnet(f) + sizeof(struct virtio_net_hdr);
}

static inline uint32_t cxdp_afp_tx_capacity(uint32_t frame_size)
{
	return frame_size - (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)) - sizeof(struct virtio_net_hdr);
}

/* Queues the frame: the next kick sends it. The virtio_net_hdr asks for no
 * offload (no checksum, no GSO) and the whole packet in the linear area. */
static inline void cxdp_afp_tx_submit(struct tpacket2_hdr *f, uint32_t len)
{
	struct virtio_net_hdr *vnet = cxdp_afp_tx_vnet(f);
	memset(vnet, 0, sizeof(*vnet));
	vnet->hdr_len = htole16((uint16_t)len);   /* virtio 1.0: little endian */
	f->tp_len = len + sizeof(struct virtio_net_hdr);
	__atomic_store_n(&f->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
}

#endif /* CXDP_AFP_H */
