/* bench.c: see include/cxdp_bench.h. */
#define _GNU_SOURCE
#include "cxdp_bench.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

/* ---- live frames -------------------------------------------------------- */

int cxdp_test_run_xdp_live(int prog_fd, const void *data, uint32_t len,
                           uint32_t ingress_ifindex, uint32_t repeat,
                           uint32_t batch_size)
{
	/* XFB_GEN_META_LEN bytes of metadata, then the frame. */
	uint8_t buf[XFB_GEN_META_LEN + XFB_GEN_MAX_FRAME];
	if (len > XFB_GEN_MAX_FRAME)
		return -EINVAL;
	memset(buf, 0, XFB_GEN_META_LEN);
	memcpy(buf + XFB_GEN_META_LEN, data, len);
	struct xdp_md ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.data = XFB_GEN_META_LEN;
	ctx.data_end = XFB_GEN_META_LEN + len; /* must equal the input size */
	ctx.ingress_ifindex = ingress_ifindex;
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = buf, .data_size_in = XFB_GEN_META_LEN + len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = (int)repeat,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = batch_size);
	return bpf_prog_test_run_opts(prog_fd, &opts);
}

/* ---- AF_PACKET TX ring --------------------------------------------------- */

#define TXR_FRAME_SIZE  2048u
#define TXR_BLOCK_SIZE  65536u
#define TXR_FRAMES      512u
#define TXR_DATA_OFF    TPACKET_ALIGN(sizeof(struct tpacket2_hdr))

int cxdp_txring_open(int ifindex, int qdisc_bypass, struct cxdp_txring *ring)
{
	/* Protocol 0: this socket receives nothing, it only transmits. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int version = TPACKET_V2, one = 1;
	struct tpacket_req req = {
		.tp_block_size = TXR_BLOCK_SIZE,
		.tp_block_nr = TXR_FRAMES * TXR_FRAME_SIZE / TXR_BLOCK_SIZE,
		.tp_frame_size = TXR_FRAME_SIZE,
		.tp_frame_nr = TXR_FRAMES,
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) ||
	    (qdisc_bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) ||
	    setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		int err = errno;
		close(fd);
		return -err;
	}
	size_t len = (size_t)req.tp_block_size * req.tp_block_nr;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int err = errno;
		close(fd);
		return -err;
	}
	*ring = (struct cxdp_txring){ .fd = fd, .map = map, .map_len = len,
		.frame_size = TXR_FRAME_SIZE, .frame_count = TXR_FRAMES };
	return 0;
}

/* Blocking send: the kernel transmits every frame marked SEND_REQUEST and
 * returns once they are done, so their slots are free again. */
static int txring_flush(struct cxdp_txring *ring)
{
	while (send(ring->fd, NULL, 0, 0) < 0) {
		if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN)
			return -errno;
		if (errno != EINTR)
			sched_yield();
	}
	return 0;
}

int cxdp_txring_send(struct cxdp_txring *ring, const void *frame, uint32_t len,
                     const struct xfb_gen_cfg *cfg, uint64_t first, uint32_t n)
{
	if (len < cfg->hdr_len || len > ring->frame_size - TXR_DATA_OFF)
		return -EINVAL;
	if (cfg->hdr_len != XFB_GEN_HDR_LEN && cfg->hdr_len != XFB_GEN_HDR_LEN6_UDP && cfg->hdr_len != XFB_GEN_HDR_LEN6_TCP)
		return -EINVAL;
	uint32_t queued = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct tpacket2_hdr *hdr = (void *)(ring->map + (size_t)ring->next * ring->frame_size);
		for (int tries = 0; __atomic_load_n(&hdr->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE; tries++) {
			if (hdr->tp_status & TP_STATUS_WRONG_FORMAT)
				return -EINVAL;
			if (tries > 1000000)
				return -ETIMEDOUT;
			int err = txring_flush(ring);
			if (err)
				return err;
			queued = 0;
		}
		uint8_t *data = (uint8_t *)hdr + TXR_DATA_OFF;
		memcpy(data, frame, len);
		(void)xfb_gen_patch(data, cfg, first + i);
		hdr->tp_len = len;
		__atomic_store_n(&hdr->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		ring->next = (ring->next + 1) % ring->frame_count;
		queued++;
	}
	int err = txring_flush(ring);
	return err ? err : (int)n;
}

void cxdp_txring_close(struct cxdp_txring *ring)
{
	if (ring->map)
		munmap(ring->map, ring->map_len);
	if (ring->fd >= 0)
		close(ring->fd);
	ring->map = NULL;
	ring->fd = -1;
}

/* ---- UDP relay ------------------------------------------------------------ */

int cxdp_udp_socket(uint32_t addr, uint16_t port, uint32_t peer,
                    uint16_t peer_port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = addr, .sin_port = port };
	struct sockaddr_in remote = { .sin_family = AF_INET, .sin_addr.s_addr = peer, .sin_port = peer_port };
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf))) ||
	    bind(fd, (struct sockaddr *)&local, sizeof(local)) ||
	    (peer && connect(fd, (struct sockaddr *)&remote, sizeof(remote)))) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

#define RELAY_MAX_BATCH 256
#define RELAY_BUF 2048

int cxdp_udp_relay(int in_fd, int out_fd, unsigned batch,
                   volatile int *stop, volatile uint64_t *relayed)
{
	static __thread uint8_t bufs[RELAY_MAX_BATCH][RELAY_BUF];
	struct mmsghdr msgs[RELAY_MAX_BATCH];
	struct iovec iov[RELAY_MAX_BATCH];
	if (batch == 0 || batch > RELAY_MAX_BATCH)
		return -EINVAL;
	while (!*stop) {
		for (unsigned i = 0; i < batch; i++) {
			iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = RELAY_BUF };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int got = recvmmsg(in_fd, msgs, batch, MSG_WAITFORONE, NULL);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue; /* receive timeout: check *stop */
			return -errno;
		}
		/* Same payloads out: each iov shrinks to what was received. */
		for (int i = 0; i < got; i++)
			iov[i].iov_len = msgs[i].msg_len;
		int sent = 0;
		while (sent < got) {
			int n = sendmmsg(out_fd, msgs + sent, (unsigned)(got - sent), 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				/* A full egress queue drops the rest, as any relay would. */
				break;
			}
			sent += n;
		}
		*relayed += (uint64_t)sent;
	}
	return 0;
}

/* ---- cache-line ping-pong ------------------------------------------------- */

struct pingpong {
	_Alignas(64) _Atomic unsigned long turn;
	unsigned rounds;
	int cpu;
};

static int pin_self(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *pong(void *arg)
{
	struct pingpong *p = arg;
	pin_self(p->cpu);
	for (unsigned long i = 0; i < p->rounds; i++) {
		while (atomic_load_explicit(&p->turn, memory_order_acquire) != 2 * i + 1)
			;
		atomic_store_explicit(&p->turn, 2 * i + 2, memory_order_release);
	}
	return NULL;
}

uint64_t cxdp_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double cxdp_cacheline_pingpong_ns(int cpu_a, int cpu_b, unsigned rounds)
{
	static struct pingpong p;
	pthread_t thread;
	cpu_set_t saved;
	atomic_store(&p.turn, 0);
	p.rounds = rounds;
	p.cpu = cpu_b;
	if (pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved))
		return -EINVAL;
	if (pin_self(cpu_a))
		return -EINVAL;
	int err = pthread_create(&thread, NULL, pong, &p);
	if (err) {
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
		return -err;
	}
	/* Wait for the first answer before timing (thread start-up). */
	uint64_t start = 0;
	for (unsigned long i = 0; i < rounds; i++) {
		atomic_store_explicit(&p.turn, 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(&p.turn, memory_order_acquire) != 2 * i + 2)
			;
		if (i == 0)
			start = cxdp_monotonic_ns();
	}
	uint64_t end = cxdp_monotonic_ns();
	pthread_join(thread, NULL);
	pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	return rounds > 1 ? (double)(end - start) / (rounds - 1) : 0;
}

/* ---- interfaces ------------------------------------------------------------ */

int cxdp_if_hwaddr(const char *name, uint8_t mac[6])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(name) >= sizeof(ifr.ifr_name))
		return -EINVAL;
	strcpy(ifr.ifr_name, name);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
	int err = errno;
	close(fd);
	if (rc)
		return -err;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* ---- CPU placement ----------------------------------------------------------- */

int cxdp_pin_task(int tid, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set) == 0 ? 0 : -errno;
}

int cxdp_gettid(void)
{
	return gettid();
}
