/* pinned_state.c: what the version check of pinned state needs from libbpf
 * (see include/cxdp.h, "Pinned state"). */
#include "cxdp.h"

#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

/* ---- shapes ---------------------------------------------------------- */

static void shape_from_map(const struct bpf_map *map, struct cxdp_map_shape *out)
{
	memset(out, 0, sizeof(*out));
	strncpy(out->name, bpf_map__name(map), sizeof(out->name) - 1);
	out->type = bpf_map__type(map);
	out->key_size = bpf_map__key_size(map);
	out->value_size = bpf_map__value_size(map);
	out->max_entries = bpf_map__max_entries(map);
	out->flags = bpf_map__map_flags(map);
}

int cxdp_object_pinned_map(struct bpf_object *obj, int index, struct cxdp_map_shape *out)
{
	struct bpf_map *map;
	int seen = 0;
	bpf_object__for_each_map(map, obj) {
		if (!bpf_map__pin_path(map))
			continue;
		if (seen++ == index) {
			shape_from_map(map, out);
			return 1;
		}
	}
	return 0;
}

int cxdp_map_shape(int fd, struct cxdp_map_shape *out)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	strncpy(out->name, info.name, sizeof(out->name) - 1);
	out->type = info.type;
	out->key_size = info.key_size;
	out->value_size = info.value_size;
	out->max_entries = info.max_entries;
	out->flags = info.map_flags;
	return 0;
}

/* ---- layout fingerprint ------------------------------------------------ */

/* FNV-1a, 64 bit: no dependency, and stable across builds and machines. */
static uint64_t mix(uint64_t hash, const void *bytes, size_t len)
{
	const unsigned char *p = bytes;
	for (size_t i = 0; i < len; i++) {
		hash ^= p[i];
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

static uint64_t mix_u32(uint64_t hash, uint32_t value)
{
	return mix(hash, &value, sizeof(value));
}

static uint64_t mix_str(uint64_t hash, const char *text)
{
	return mix(hash, text ? text : "", text ? strlen(text) + 1 : 1);
}

/* A type by structure, never by BTF id (ids differ between builds): kind,
 * name, size, and for structs every member's name, bit offset and type. */
static uint64_t mix_type(const struct btf *btf, uint32_t id, uint64_t hash, int depth)
{
	const struct btf_type *t = id ? btf__type_by_id(btf, id) : NULL;
	if (!t || depth > 32)
		return mix_u32(hash, 0xffffffffu);
	uint16_t kind = btf_kind(t), vlen = btf_vlen(t);
	hash = mix_u32(hash, kind);
	hash = mix_str(hash, btf__name_by_offset(btf, t->name_off));
	switch (kind) {
	case BTF_KIND_INT:
		return mix_u32(mix_u32(mix_u32(hash, t->size), btf_int_encoding(t)), btf_int_bits(t));
	case BTF_KIND_ARRAY:
		hash = mix_u32(hash, btf_array(t)->nelems);
		return mix_type(btf, btf_array(t)->type, hash, depth + 1);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		hash = mix_u32(mix_u32(hash, t->size), vlen);
		for (uint16_t i = 0; i < vlen; i++) {
			const struct btf_member *m = btf_members(t) + i;
			hash = mix_str(hash, btf__name_by_offset(btf, m->name_off));
			hash = mix_u32(hash, btf_member_bit_offset(t, i));
			hash = mix_u32(hash, btf_member_bitfield_size(t, i));
			hash = mix_type(btf, m->type, hash, depth + 1);
		}
		return hash;
	case BTF_KIND_ENUM:
		hash = mix_u32(mix_u32(hash, t->size), vlen);
		for (uint16_t i = 0; i < vlen; i++) {
			hash = mix_str(hash, btf__name_by_offset(btf, btf_enum(t)[i].name_off));
			hash = mix_u32(hash, (uint32_t)btf_enum(t)[i].val);
		}
		return hash;
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
		return mix_type(btf, t->type, hash, depth + 1);
	default:
		/* Pointers, functions, forward declarations: their kind and name. */
		return hash;
	}
}

static uint64_t mix_shape(uint64_t hash, const struct bpf_map *map)
{
	struct cxdp_map_shape shape;
	shape_from_map(map, &shape);
	hash = mix_str(hash, shape.name);
	hash = mix_u32(hash, shape.type);
	hash = mix_u32(hash, shape.key_size);
	hash = mix_u32(hash, shape.value_size);
	hash = mix_u32(hash, shape.max_entries);
	return mix_u32(hash, shape.flags);
}

/* Structs the programs exchange with the control plane outside maps. */
static const char *const abi_structs[] = {
	"xdpfwd_fib_query", "xdpfwd_fib6_query", "xdpfwd_meta", "xdpfwd_ct_add", "xdpfwd_ct6_add",
};

int cxdp_object_layout_hash(struct bpf_object *obj, uint64_t *out)
{
	const struct btf *btf = bpf_object__btf(obj);
	if (!btf)
		return -ENODATA;
	uint64_t hash = 0xcbf29ce484222325ULL;
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		if (!bpf_map__pin_path(map))
			continue;
		hash = mix_shape(hash, map);
		hash = mix_type(btf, bpf_map__btf_key_type_id(map), hash, 0);
		hash = mix_type(btf, bpf_map__btf_value_type_id(map), hash, 0);
		struct bpf_map *inner = bpf_map__inner_map(map);
		if (inner)
			hash = mix_shape(hash, inner);
	}
	for (size_t i = 0; i < sizeof(abi_structs) / sizeof(abi_structs[0]); i++) {
		int id = btf__find_by_name_kind(btf, abi_structs[i], BTF_KIND_STRUCT);
		hash = mix_str(hash, abi_structs[i]);
		hash = mix_type(btf, id > 0 ? (uint32_t)id : 0, hash, 0);
	}
	*out = hash;
	return 0;
}

/* ---- programs ---------------------------------------------------------- */

int cxdp_prog_tag(int fd, uint8_t tag[8])
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		return err;
	_Static_assert(BPF_TAG_SIZE == 8, "program tag size");
	memcpy(tag, info.tag, BPF_TAG_SIZE);
	return 0;
}

int cxdp_prog_fd_by_id(uint32_t id)
{
	return bpf_prog_get_fd_by_id(id);
}
