/* afp.c: AF_PACKET ring setup for FastPath; see include/cxdp_afp.h. */
#define _GNU_SOURCE
#include "cxdp_afp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <spawn.h>

_Static_assert(CXDP_POSIX_SPAWN_SETSID == POSIX_SPAWN_SETSID, "spawn flag");

/* Records the failed call, closes fd, returns -errno. */
static int fail(int fd, const char *call, const char **failed_call)
{
	int err = errno;
	if (fd >= 0)
		close(fd);
	*failed_call = call;
	return -err;
}

static int setopt(int fd, int name, const void *value, socklen_t len)
{
	return setsockopt(fd, SOL_PACKET, name, value, len);
}

int cxdp_afp_rx_open(int ifindex, uint32_t block_size, uint32_t block_nr, uint32_t frame_size,
                     uint32_t retire_ms, int fanout_id, void **ring, const char **failed_call)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return fail(-1, "socket(AF_PACKET)", failed_call);
	int version = TPACKET_V3, one = 1;
	if (setopt(fd, PACKET_VERSION, &version, sizeof(version)))
		return fail(fd, "setsockopt(PACKET_VERSION)", failed_call);
	/* Our own transmissions (and the host's) are not input. */
	if (setopt(fd, PACKET_IGNORE_OUTGOING, &one, sizeof(one)))
		return fail(fd, "setsockopt(PACKET_IGNORE_OUTGOING)", failed_call);
	struct tpacket_req3 req;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = block_size;
	req.tp_block_nr = block_nr;
	req.tp_frame_size = frame_size;
	req.tp_frame_nr = (block_size / frame_size) * block_nr;
	req.tp_retire_blk_tov = retire_ms;
	if (setopt(fd, PACKET_RX_RING, &req, sizeof(req)))
		return fail(fd, "setsockopt(PACKET_RX_RING)", failed_call);
	void *map = mmap(NULL, (size_t)block_size * block_nr, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		map = mmap(NULL, (size_t)block_size * block_nr, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return fail(fd, "mmap(PACKET_RX_RING)", failed_call);
	struct sockaddr_ll addr;
	memset(&addr, 0, sizeof(addr));
	addr.sll_family = AF_PACKET;
	addr.sll_protocol = htons(ETH_P_ALL);
	addr.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		munmap(map, (size_t)block_size * block_nr);
		return fail(fd, "bind(AF_PACKET)", failed_call);
	}
	if (fanout_id >= 0) {
		int fanout = (fanout_id & 0xffff) | (PACKET_FANOUT_HASH << 16);
		if (setopt(fd, PACKET_FANOUT, &fanout, sizeof(fanout))) {
			munmap(map, (size_t)block_size * block_nr);
			return fail(fd, "setsockopt(PACKET_FANOUT)", failed_call);
		}
	}
	*ring = map;
	return fd;
}

int cxdp_afp_tx_open(int ifindex, uint32_t block_size, uint32_t block_nr, uint32_t frame_size,
                     int qdisc_bypass, void **ring, const char **failed_call)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(-1, "socket(AF_PACKET)", failed_call);
	int version = TPACKET_V2;
	if (setopt(fd, PACKET_VERSION, &version, sizeof(version)))
		return fail(fd, "setsockopt(PACKET_VERSION)", failed_call);
	if (qdisc_bypass && setopt(fd, PACKET_QDISC_BYPASS, &qdisc_bypass, sizeof(qdisc_bypass)))
		return fail(fd, "setsockopt(PACKET_QDISC_BYPASS)", failed_call);
	/* A frame the kernel refuses is dropped; without this it would stay
	 * at the ring's head, marked TP_STATUS_WRONG_FORMAT, and stop every
	 * send behind it. (AF_PACKET's own MTU check, which grants 4 bytes for
	 * a VLAN tag only behind 0x8100, is skipped with PACKET_VNET_HDR.) */
	int loss = 1;
	if (setopt(fd, PACKET_LOSS, &loss, sizeof(loss)))
		return fail(fd, "setsockopt(PACKET_LOSS)", failed_call);
	/* A virtio_net_hdr before each frame: its hdr_len tells tpacket_snd to
	 * copy that many bytes into the skb's linear area. Without it the skb
	 * points at the ring's pages as zero-copy frags, and every hop that
	 * delivers to a receiver (veth, the stack) first copies them into newly
	 * allocated pages (skb_copy_ubufs); a 64-1514-byte copy is cheaper. */
	int one = 1;
	if (setopt(fd, PACKET_VNET_HDR, &one, sizeof(one)))
		return fail(fd, "setsockopt(PACKET_VNET_HDR)", failed_call);
	struct tpacket_req req;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = block_size;
	req.tp_block_nr = block_nr;
	req.tp_frame_size = frame_size;
	req.tp_frame_nr = (block_size / frame_size) * block_nr;
	if (setopt(fd, PACKET_TX_RING, &req, sizeof(req)))
		return fail(fd, "setsockopt(PACKET_TX_RING)", failed_call);
	void *map = mmap(NULL, (size_t)block_size * block_nr, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return fail(fd, "mmap(PACKET_TX_RING)", failed_call);
	struct sockaddr_ll addr;
	memset(&addr, 0, sizeof(addr));
	addr.sll_family = AF_PACKET;
	addr.sll_protocol = 0;
	addr.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		munmap(map, (size_t)block_size * block_nr);
		return fail(fd, "bind(AF_PACKET)", failed_call);
	}
	*ring = map;
	return fd;
}

int cxdp_afp_rx_drops(int fd, uint64_t *drops)
{
	struct tpacket_stats_v3 stats;
	socklen_t len = sizeof(stats);
	memset(&stats, 0, sizeof(stats));
	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &len))
		return -errno;
	*drops = stats.tp_drops;
	return 0;
}

void cxdp_afp_close(int fd, void *ring, size_t ring_len)
{
	if (ring)
		munmap(ring, ring_len);
	if (fd >= 0)
		close(fd);
}

int cxdp_afp_tx_kick(int fd)
{
	for (;;) {
		if (send(fd, NULL, 0, MSG_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		return -errno;
	}
}

int cxdp_raw_ipv4_open(const char **failed_call)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return fail(-1, "socket(AF_INET, SOCK_RAW)", failed_call);
	return fd;
}

int cxdp_raw_ipv4_send(int fd, const void *ip_packet, size_t len, uint32_t daddr_be)
{
	struct sockaddr_in to;
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_addr.s_addr = daddr_be;
	for (;;) {
		if (sendto(fd, ip_packet, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* IPPROTO_RAW over IPv6 implies IPV6_HDRINCL: the packet goes out as given,
 * routed by its destination, the neighbour resolved by the kernel. */
int cxdp_raw_ipv6_open(const char **failed_call)
{
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return fail(-1, "socket(AF_INET6, SOCK_RAW)", failed_call);
	return fd;
}

int cxdp_raw_ipv6_send(int fd, const void *ip6_packet, size_t len)
{
	struct sockaddr_in6 to;
	if (len < 40)
		return -EINVAL;
	memset(&to, 0, sizeof(to));
	to.sin6_family = AF_INET6;
	memcpy(&to.sin6_addr, (const uint8_t *)ip6_packet + 24, 16);
	for (;;) {
		if (sendto(fd, ip6_packet, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* ---- GRO: AF_PACKET must see packets as they came off the wire --------- */

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>

static int gro_ioctl(const char *ifname, uint32_t cmd, uint32_t *data)
{
	struct ethtool_value value = { .cmd = cmd, .data = *data };
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	ifr.ifr_data = (void *)&value;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = ioctl(fd, SIOCETHTOOL, &ifr);
	int err = errno;
	close(fd);
	if (rc < 0)
		return -err;
	*data = value.data;
	return 0;
}

int cxdp_gro_get(const char *ifname)
{
	uint32_t data = 0;
	int rc = gro_ioctl(ifname, ETHTOOL_GGRO, &data);
	return rc < 0 ? rc : (data != 0);
}

int cxdp_gro_set(const char *ifname, int on)
{
	uint32_t data = on ? 1 : 0;
	return gro_ioctl(ifname, ETHTOOL_SGRO, &data);
}

/* ---- spawning the forwarder -------------------------------------------- */

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>

int cxdp_cloexec_from(int lowfd)
{
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	/* Older kernels: walk the open descriptors. */
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return -errno;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		int fd = atoi(entry->d_name);
		if (fd >= lowfd && fd != dirfd(dir))
			fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
	}
	closedir(dir);
	return 0;
}
