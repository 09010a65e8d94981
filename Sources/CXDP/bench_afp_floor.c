/*
 * bench_afp_floor.c: the AF_PACKET floor of `bench topo`, see
 * cxdp_bench.h. The same rings FastPath opens (afp.c, same geometry and
 * options), the same batching (drain every ready block, copy each frame
 * once into a TX slot, one kick per round), and the least a full-NAT
 * forwarder must do per packet: a fixed rewrite, no lookup, no state. What
 * it costs is what any AF_PACKET forwarder pays on this kernel before its
 * own logic.
 */
#define _GNU_SOURCE
#include "cxdp_bench.h"
#include "cxdp_afp.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

/* RFC 1624 incremental update of a 16-bit one's complement checksum. */
static inline uint16_t floor_csum_replace(uint16_t check, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~check + (uint16_t)~old + new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint16_t floor_csum_replace32(uint16_t check, uint32_t old, uint32_t new)
{
	check = floor_csum_replace(check, (uint16_t)(old >> 16), (uint16_t)(new >> 16));
	return floor_csum_replace(check, (uint16_t)old, (uint16_t)new);
}

/*
 * Rewrites one frame for cfg's rule in place: 1 when it is IPv4 UDP to the
 * listen endpoint with TTL > 1 (then translated), else 0 (left alone).
 * Fields are read and written as the wire has them (network order).
 */
static int floor_translate(uint8_t *frame, uint32_t len, const struct cxdp_afp_floor_cfg *cfg)
{
	if (len < ETH_HLEN + 20 + 8)
		return 0;
	uint16_t ethertype;
	memcpy(&ethertype, frame + 12, 2);
	uint8_t *ip = frame + ETH_HLEN;
	if (ethertype != htons(ETH_P_IP) || ip[0] != 0x45 || ip[9] != IPPROTO_UDP || ip[8] <= 1)
		return 0;
	uint8_t *udp = ip + 20;
	uint32_t saddr, daddr;
	uint16_t sport, dport, ip_check, udp_check, ttl_word;
	memcpy(&saddr, ip + 12, 4);
	memcpy(&daddr, ip + 16, 4);
	memcpy(&sport, udp, 2);
	memcpy(&dport, udp + 2, 2);
	if (daddr != cfg->listen_addr || dport != cfg->listen_port)
		return 0;
	memcpy(&ip_check, ip + 10, 2);
	memcpy(&udp_check, udp + 6, 2);
	memcpy(&ttl_word, ip + 8, 2);
	uint16_t new_ttl_word = ttl_word;
	((uint8_t *)&new_ttl_word)[0] -= 1;
	ip_check = floor_csum_replace(ip_check, ttl_word, new_ttl_word);
	ip_check = floor_csum_replace32(ip_check, saddr, cfg->source_addr);
	ip_check = floor_csum_replace32(ip_check, daddr, cfg->backend_addr);
	if (udp_check) {
		udp_check = floor_csum_replace32(udp_check, saddr, cfg->source_addr);
		udp_check = floor_csum_replace32(udp_check, daddr, cfg->backend_addr);
		udp_check = floor_csum_replace(udp_check, sport, cfg->source_port);
		udp_check = floor_csum_replace(udp_check, dport, cfg->backend_port);
		if (!udp_check)
			udp_check = 0xffff;
	}
	memcpy(frame, cfg->dst_mac, 6);
	memcpy(frame + 6, cfg->src_mac, 6);
	memcpy(ip + 8, &new_ttl_word, 2);
	memcpy(ip + 10, &ip_check, 2);
	memcpy(ip + 12, &cfg->source_addr, 4);
	memcpy(ip + 16, &cfg->backend_addr, 4);
	memcpy(udp, &cfg->source_port, 2);
	memcpy(udp + 2, &cfg->backend_port, 2);
	memcpy(udp + 6, &udp_check, 2);
	return 1;
}

/* A packet socket that only sends, bound to ifindex, PACKET_QDISC_BYPASS,
 * with room for a burst of skbs in flight. fd or -errno. */
static int floor_plain_socket(int ifindex)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0), one = 1, sndbuf = 8 << 20;
	struct sockaddr_ll addr = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

#define FLOOR_BATCH 64

/* The TX side of one floor run: a TX ring (copy into a slot, one kick per
 * round), or sendmmsg(2) straight from the RX block (one call per block at
 * most FLOOR_BATCH frames, before the block goes back to the kernel). */
struct floor_tx {
	int fd, sendmmsg;
	uint8_t *ring;
	uint32_t frame_size, frames, next, capacity, pending, batch;
	unsigned n;
	struct mmsghdr msgs[FLOOR_BATCH];
	struct iovec iov[FLOOR_BATCH];
};

/* Sends the gathered frames; those the device refuses are dropped. */
static void floor_flush(struct floor_tx *t)
{
	unsigned sent = 0;
	while (sent < t->n) {
		int r = sendmmsg(t->fd, t->msgs + sent, t->n - sent, MSG_DONTWAIT);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		sent += (unsigned)r;
	}
	t->n = 0;
}

/* Hands one translated frame to the TX side; 1 if it was taken. */
static int floor_emit(struct floor_tx *t, uint8_t *data, uint32_t len)
{
	if (t->sendmmsg) {
		t->iov[t->n] = (struct iovec){ .iov_base = data, .iov_len = len };
		if (++t->n == FLOOR_BATCH)
			floor_flush(t);
		return 1;
	}
	if (len > t->capacity)
		return 0;
	struct tpacket2_hdr *slot = cxdp_afp_tx_frame(t->ring, t->frame_size, t->next);
	if (!cxdp_afp_tx_available(slot)) {
		cxdp_afp_tx_kick(t->fd);
		t->pending = 0;
		if (!cxdp_afp_tx_available(slot))
			return 0; /* the device is behind: dropped, as FastPath does */
	}
	memcpy(cxdp_afp_tx_data(slot), data, len);
	cxdp_afp_tx_submit(slot, len);
	t->next = t->next + 1 == t->frames ? 0 : t->next + 1;
	if (++t->pending >= t->batch) {
		cxdp_afp_tx_kick(t->fd);
		t->pending = 0;
	}
	return 1;
}

int cxdp_afp_floor_open(const struct cxdp_afp_floor_cfg *cfg, struct cxdp_afp_floor *floor)
{
	const char *failed = NULL;
	*floor = (struct cxdp_afp_floor){ .cfg = *cfg, .rx_fd = -1, .tx_fd = -1 };
	floor->rx_len = (size_t)cfg->block_size * cfg->block_count;
	floor->tx_len = (size_t)cfg->tx_block_size * cfg->tx_block_count;
	int rx = cxdp_afp_rx_open(cfg->in_ifindex, cfg->block_size, cfg->block_count, cfg->frame_size,
				  cfg->retire_ms, -1, &floor->rx_map, &failed);
	if (rx < 0)
		return rx;
	floor->rx_fd = rx;
	int tx = cfg->tx_sendmmsg ? floor_plain_socket(cfg->out_ifindex)
				  : cxdp_afp_tx_open(cfg->out_ifindex, cfg->tx_block_size, cfg->tx_block_count,
						     cfg->tx_frame_size, 1, &floor->tx_map, &failed);
	if (tx < 0) {
		cxdp_afp_floor_close(floor);
		return tx;
	}
	floor->tx_fd = tx;
	return 0;
}

void cxdp_afp_floor_close(struct cxdp_afp_floor *floor)
{
	if (floor->tx_fd >= 0 && floor->tx_map)
		cxdp_afp_close(floor->tx_fd, floor->tx_map, floor->tx_len);
	else if (floor->tx_fd >= 0)
		close(floor->tx_fd);
	if (floor->rx_fd >= 0)
		cxdp_afp_close(floor->rx_fd, floor->rx_map, floor->rx_len);
	floor->tx_fd = floor->rx_fd = -1;
}

void cxdp_afp_floor_run(struct cxdp_afp_floor *floor, volatile int *stop, volatile uint64_t *forwarded)
{
	const struct cxdp_afp_floor_cfg *cfg = &floor->cfg;
	struct floor_tx t = { .fd = floor->tx_fd, .sendmmsg = cfg->tx_sendmmsg, .ring = floor->tx_map,
		.frame_size = cfg->tx_frame_size, .frames = (uint32_t)(floor->tx_len / cfg->tx_frame_size),
		.capacity = cxdp_afp_tx_capacity(cfg->tx_frame_size), .batch = cfg->tx_batch ? cfg->tx_batch : 1 };
	for (unsigned i = 0; i < FLOOR_BATCH; i++) {
		t.msgs[i].msg_hdr.msg_iov = &t.iov[i];
		t.msgs[i].msg_hdr.msg_iovlen = 1;
	}
	struct pollfd pfd = { .fd = floor->rx_fd, .events = POLLIN | POLLERR };
	uint32_t block_index = 0;
	uint64_t count = 0;
	while (!*stop) {
		int worked = 0;
		for (;;) {
			struct tpacket_block_desc *block = cxdp_afp_block(floor->rx_map, cfg->block_size, block_index);
			if (!cxdp_afp_block_ready(block))
				break;
			worked = 1;
			struct tpacket3_hdr *packet = cxdp_afp_block_first(block);
			uint32_t packets = cxdp_afp_block_packets(block);
			for (uint32_t i = 0; i < packets; i++, packet = cxdp_afp_next(packet)) {
				uint32_t len = cxdp_afp_snaplen(packet);
				uint8_t *data = cxdp_afp_data(packet);
				if (len == cxdp_afp_len(packet) && floor_translate(data, len, cfg) && floor_emit(&t, data, len))
					count++;
			}
			if (t.n)
				floor_flush(&t);
			cxdp_afp_block_release(block);
			block_index = block_index + 1 == cfg->block_count ? 0 : block_index + 1;
		}
		if (t.pending) {
			cxdp_afp_tx_kick(t.fd);
			t.pending = 0;
		}
		*forwarded = count;
		if (!worked)
			poll(&pfd, 1, 100);
	}
}
