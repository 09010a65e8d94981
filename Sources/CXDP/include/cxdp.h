/*
 * cxdp.h: the only C a Swift file calls. A small shim over libbpf that hides
 * LIBBPF_OPTS macros, varargs callbacks and error-pointer conventions behind
 * one convention: every int-returning function returns >= 0 on success and
 * -errno on failure; pointer results are returned through out-parameters.
 */
#ifndef CXDP_H
#define CXDP_H

#include <stddef.h>
#include <stdint.h>
#include "xdpfwd_kern_user.h"

struct bpf_object;

/* libbpf's log (including the verifier log of a failed load) is captured
 * into a buffer instead of stderr. Reset before a call, read after it. */
void cxdp_log_reset(void);
const char *cxdp_log_text(void);

/* Open an object from memory. pin_root == NULL disables map pinning (every
 * map becomes private to this object); otherwise maps marked
 * LIBBPF_PIN_BY_NAME are reused from / pinned to pin_root at load. */
int cxdp_object_open_mem(const void *buf, size_t len, const char *name,
                         const char *pin_root, struct bpf_object **out);
int cxdp_object_load(struct bpf_object *obj);
void cxdp_object_close(struct bpf_object *obj);
int cxdp_object_program_fd(struct bpf_object *obj, const char *prog_name);
int cxdp_object_map_fd(struct bpf_object *obj, const char *map_name);

/* Maps. flags: BPF_ANY / BPF_NOEXIST / BPF_EXIST. */
int cxdp_map_update(int fd, const void *key, const void *value, uint64_t flags);
int cxdp_map_lookup(int fd, const void *key, void *value);
int cxdp_map_delete(int fd, const void *key);
int cxdp_map_next_key(int fd, const void *key, void *next_key);
int cxdp_map_info(int fd, uint32_t *type, uint32_t *key_size,
                  uint32_t *value_size, uint32_t *max_entries, uint32_t *id);
int cxdp_possible_cpus(void);
/* A fresh BPF_MAP_TYPE_ARRAY with u32 keys (an inner map to fill, then
 * swap into a map-of-maps); returns its fd. */
int cxdp_array_map_create(const char *name, uint32_t value_size, uint32_t max_entries);
/* An fd for the map with this id (map-of-maps lookups return ids). */
int cxdp_map_fd_by_id(uint32_t id);

/* Pinned state (pinned_state.c): what a map was defined as (in an opened
 * object) or is (in the kernel), for the version check of pinned state. */
struct cxdp_map_shape {
	char name[16];           /* BPF_OBJ_NAME_LEN: the kernel keeps 15 characters */
	uint32_t type;           /* BPF_MAP_TYPE_* */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t flags;
};
/* The index-th pin-by-name map of an opened object (the object must be
 * opened with a pin root): 1 and *out filled, 0 past the last. */
int cxdp_object_pinned_map(struct bpf_object *obj, int index, struct cxdp_map_shape *out);
/* The shape of a map the kernel holds. */
int cxdp_map_shape(int fd, struct cxdp_map_shape *out);
/* A fingerprint (FNV-1a 64) of every pin-by-name map of an opened object:
 * shape, inner map shape, and the BTF of key and value types by structure
 * (member names, offsets, sizes), plus the structs its programs exchange
 * with the control plane outside maps (the FIB queries, the XDP metadata,
 * the flow count adds). */
int cxdp_object_layout_hash(struct bpf_object *obj, uint64_t *out);
/* A loaded program's tag (the kernel's hash of its instructions, map
 * references masked) and an fd for a program id (prog arrays hold ids). */
int cxdp_prog_tag(int fd, uint8_t tag[8]);
int cxdp_prog_fd_by_id(uint32_t id);

/* Pinning and ids. */
int cxdp_obj_pin(int fd, const char *path);
int cxdp_obj_get(const char *path);
int cxdp_is_bpffs(const char *path); /* 1 yes, 0 no, -errno */

/* XDP: bpf_link based attach (pinnable, survives the process). */
int cxdp_xdp_link_create(int prog_fd, int ifindex, uint32_t xdp_flags);
int cxdp_link_detach(int link_fd);
/* Which XDP program is on ifindex: *prog_id 0 if none; *mode one of
 * XDP_ATTACHED_NONE/DRV/SKB/HW/MULTI. */
int cxdp_xdp_query(int ifindex, uint32_t *prog_id, uint8_t *mode);

/* TC clsact ingress filter for the slow path. *created_hook tells whether
 * this call created the clsact qdisc (so detach may remove it again). */
int cxdp_tc_ingress_attach(int ifindex, int prog_fd, int *created_hook);
int cxdp_tc_ingress_detach(int ifindex, int destroy_hook);
/* Program id of our TC filter on ifindex, 0 if absent. */
int cxdp_tc_ingress_query(int ifindex, uint32_t *prog_id);

/* BPF_PROG_TEST_RUN for XDP. data_out_len: in = capacity, out = length. */
int cxdp_test_run_xdp(int prog_fd, const void *data_in, uint32_t data_in_len,
                      void *data_out, uint32_t *data_out_len,
                      uint32_t ingress_ifindex, uint32_t repeat,
                      uint32_t *retval, uint32_t *duration_ns);

/* A VLAN device of the calling thread's netns (rtnetlink link kind
 * "vlan"). lower_ifindex is the device directly below (itself a VLAN for
 * QinQ); proto_be the TPID in network order; pcp what the device's
 * egress-qos-map gives priority 0 (what it tags forwarded packets with). */
struct cxdp_vlan_link {
	uint32_t ifindex;
	uint32_t lower_ifindex;
	uint16_t vlan_id;
	uint16_t proto_be;
	uint8_t  pcp;
};

/* Every VLAN device; returns how many were written, -ENOSPC when there
 * are more than capacity, or another -errno. */
int cxdp_vlan_links(struct cxdp_vlan_link *out, int capacity);

/* One recv() of an RTM_GETLINK dump: appends the VLAN devices of buf[0,len)
 * to out at *count. Returns 0 for more to come, 1 at NLMSG_DONE, -ENOSPC
 * past capacity, the kernel's -errno for NLMSG_ERROR, -EIO for a short
 * error message. Messages too short for their headers are skipped. */
int cxdp_vlan_links_parse(const void *buf, int len, struct cxdp_vlan_link *out,
			  int capacity, int *count);

/* setns(fd, CLONE_NEWNET) for the calling thread (needs _GNU_SOURCE). */
int cxdp_setns_net(int fd);

/* Heap allocations (malloc, calloc, realloc, aligned) made by the calling
 * thread so far (malloc_count.c interposes the allocator). */
uint64_t cxdp_thread_allocations(void);

/* Pin the calling thread to one CPU (CPU_SET is a macro). */
int cxdp_pin_thread(int cpu);

/* XDP constants Swift cannot import from the macro-heavy headers. */
enum {
	CXDP_XDP_FLAGS_UPDATE_IF_NOEXIST = 1U << 0,
	CXDP_XDP_FLAGS_SKB_MODE = 1U << 1,
	CXDP_XDP_FLAGS_DRV_MODE = 1U << 2,
	CXDP_BPF_ANY = 0,
	CXDP_BPF_NOEXIST = 1,
	CXDP_BPF_EXIST = 2,
	CXDP_XDP_ATTACHED_NONE = 0,
	CXDP_XDP_ATTACHED_DRV = 1,
	CXDP_XDP_ATTACHED_SKB = 2,
	CXDP_XDP_ATTACHED_HW = 3,
	CXDP_XDP_ATTACHED_MULTI = 4,
};

/* bpf_fib_lookup results (enum in linux/bpf.h; shim.c asserts the values). */
enum {
	CXDP_FIB_LKUP_RET_SUCCESS = 0,
	CXDP_FIB_LKUP_RET_FWD_DISABLED = 5,
	CXDP_FIB_LKUP_RET_NO_NEIGH = 7,
	CXDP_FIB_LKUP_RET_FRAG_NEEDED = 8,
};

/* The tc filter handle/priority xdpfwd owns on clsact ingress. */
#define CXDP_TC_HANDLE   0x5844u
#define CXDP_TC_PRIORITY 0x5844u

#endif /* CXDP_H */
