/* shim.c: see include/cxdp.h for the conventions. */
#define _GNU_SOURCE
#include <sched.h>
#include "cxdp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

_Static_assert(CXDP_FIB_LKUP_RET_SUCCESS == BPF_FIB_LKUP_RET_SUCCESS, "fib rc");
_Static_assert(CXDP_FIB_LKUP_RET_FWD_DISABLED == BPF_FIB_LKUP_RET_FWD_DISABLED, "fib rc");
_Static_assert(CXDP_FIB_LKUP_RET_NO_NEIGH == BPF_FIB_LKUP_RET_NO_NEIGH, "fib rc");
_Static_assert(CXDP_FIB_LKUP_RET_FRAG_NEEDED == BPF_FIB_LKUP_RET_FRAG_NEEDED, "fib rc");

/* ---- libbpf log capture ---------------------------------------------- */

/* Per thread: libbpf prints on the thread that made the call, so parallel
 * loads (tests) each keep their own log. */
#define CXDP_LOG_CAP (256 * 1024)
static __thread char *log_buf;
static __thread size_t log_len;

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || !log_buf || log_len + 1 >= CXDP_LOG_CAP)
		return 0;
	size_t room = CXDP_LOG_CAP - log_len;
	int n = vsnprintf(log_buf + log_len, room, fmt, args);
	if (n > 0)
		log_len += (size_t)n < room ? (size_t)n : room - 1;
	return n;
}

void cxdp_log_reset(void)
{
	libbpf_set_print(capture_print);
	if (!log_buf)
		log_buf = malloc(CXDP_LOG_CAP);
	log_len = 0;
	if (log_buf)
		log_buf[0] = '\0';
}

const char *cxdp_log_text(void)
{
	return log_buf ? log_buf : "";
}

/* ---- objects ------------------------------------------------------------ */

int cxdp_object_open_mem(const void *buf, size_t len, const char *name,
                         const char *pin_root, struct bpf_object **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name,
		    .pin_root_path = pin_root);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	struct bpf_object *obj = bpf_object__open_mem(buf, len, &opts);
	if (!obj)
		return -errno;
	if (!pin_root) {
		struct bpf_map *map;
		bpf_object__for_each_map(map, obj) {
			int err = bpf_map__set_pin_path(map, NULL);
			if (err) {
				bpf_object__close(obj);
				return err;
			}
		}
	}
	*out = obj;
	return 0;
}

int cxdp_object_load(struct bpf_object *obj)
{
	return bpf_object__load(obj);
}

void cxdp_object_close(struct bpf_object *obj)
{
	bpf_object__close(obj);
}

int cxdp_object_program_fd(struct bpf_object *obj, const char *prog_name)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, prog_name);
	if (!prog)
		return -ENOENT;
	return bpf_program__fd(prog);
}

int cxdp_object_map_fd(struct bpf_object *obj, const char *map_name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, map_name);
	if (!map)
		return -ENOENT;
	return bpf_map__fd(map);
}

/* ---- maps --------------------------------------------------------------- */

int cxdp_map_update(int fd, const void *key, const void *value, uint64_t flags)
{
	return bpf_map_update_elem(fd, key, value, flags);
}

int cxdp_map_lookup(int fd, const void *key, void *value)
{
	return bpf_map_lookup_elem(fd, key, value);
}

int cxdp_map_delete(int fd, const void *key)
{
	return bpf_map_delete_elem(fd, key);
}

int cxdp_map_next_key(int fd, const void *key, void *next_key)
{
	return bpf_map_get_next_key(fd, key, next_key);
}

int cxdp_map_info(int fd, uint32_t *type, uint32_t *key_size,
                  uint32_t *value_size, uint32_t *max_entries, uint32_t *id)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		return err;
	*type = info.type;
	*key_size = info.key_size;
	*value_size = info.value_size;
	*max_entries = info.max_entries;
	*id = info.id;
	return 0;
}

int cxdp_array_map_create(const char *name, uint32_t value_size, uint32_t max_entries)
{
	return bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(uint32_t), value_size, max_entries, NULL);
}

int cxdp_map_fd_by_id(uint32_t id)
{
	return bpf_map_get_fd_by_id(id);
}

int cxdp_possible_cpus(void)
{
	return libbpf_num_possible_cpus();
}

/* ---- pinning and ids ---------------------------------------------------- */

int cxdp_obj_pin(int fd, const char *path)
{
	return bpf_obj_pin(fd, path);
}

int cxdp_obj_get(const char *path)
{
	return bpf_obj_get(path);
}

int cxdp_is_bpffs(const char *path)
{
	struct statfs st;
	if (statfs(path, &st) != 0)
		return -errno;
	return st.f_type == BPF_FS_MAGIC ? 1 : 0;
}

/* ---- XDP ------------------------------------------------------------------ */

int cxdp_xdp_link_create(int prog_fd, int ifindex, uint32_t xdp_flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_flags);
	return bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
}

int cxdp_link_detach(int link_fd)
{
	return bpf_link_detach(link_fd);
}

int cxdp_xdp_query(int ifindex, uint32_t *prog_id, uint8_t *mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, opts);
	int err = bpf_xdp_query(ifindex, 0, &opts);
	if (err)
		return err;
	*prog_id = opts.prog_id;
	*mode = opts.attach_mode;
	return 0;
}

/* ---- TC ------------------------------------------------------------------- */

int cxdp_tc_ingress_attach(int ifindex, int prog_fd, int *created_hook)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd,
		    .handle = CXDP_TC_HANDLE, .priority = CXDP_TC_PRIORITY);
	int err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	*created_hook = err == 0;
	err = bpf_tc_attach(&hook, &opts);
	if (err && *created_hook) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
		*created_hook = 0;
	}
	return err;
}

int cxdp_tc_ingress_detach(int ifindex, int destroy_hook)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CXDP_TC_HANDLE, .priority = CXDP_TC_PRIORITY);
	int err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT)
		return err;
	if (destroy_hook) {
		/* The caller passes 1 only when attach created clsact itself. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		int derr = bpf_tc_hook_destroy(&hook);
		if (derr && derr != -ENOENT)
			return derr;
	}
	return 0;
}

int cxdp_tc_ingress_query(int ifindex, uint32_t *prog_id)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CXDP_TC_HANDLE, .priority = CXDP_TC_PRIORITY);
	int err = bpf_tc_query(&hook, &opts);
	if (err == -ENOENT || err == -EINVAL) {
		*prog_id = 0;
		return 0;
	}
	if (err)
		return err;
	*prog_id = opts.prog_id;
	return 0;
}

/* ---- test run --------------------------------------------------------------- */

int cxdp_test_run_xdp(int prog_fd, const void *data_in, uint32_t data_in_len,
                      void *data_out, uint32_t *data_out_len,
                      uint32_t ingress_ifindex, uint32_t repeat,
                      uint32_t *retval, uint32_t *duration_ns)
{
	struct xdp_md ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.data_end = data_in_len;
	ctx.ingress_ifindex = ingress_ifindex;
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = data_in, .data_size_in = data_in_len,
		    .data_out = data_out, .data_size_out = *data_out_len,
		    .ctx_in = ingress_ifindex ? &ctx : NULL,
		    .ctx_size_in = ingress_ifindex ? sizeof(ctx) : 0,
		    .repeat = (int)repeat);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (err)
		return err;
	*data_out_len = opts.data_size_out;
	*retval = opts.retval;
	*duration_ns = opts.duration;
	return 0;
}

/* ---- namespaces ------------------------------------------------------------- */

int cxdp_setns_net(int fd)
{
	return setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
}

int cxdp_pin_thread(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -errno;
}
