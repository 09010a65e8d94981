/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * fastpath_skb.h: how the TC classifier of FastPath (fp_taken,
 * fp_taken6) reads an skb's headers: in place, through skb->data, and
 * copied with bpf_skb_load_bytes (a helper call each) only when they are
 * not in the skb's linear part.
 */
#ifndef XDPFWD_FASTPATH_SKB_H
#define XDPFWD_FASTPATH_SKB_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* How far past skb->data a variable offset may point for direct access:
 * the verifier's packet range ends at 0xffff, less the largest read. */
#define FP_MAX_OFF 0xff00

/*
 * Points at the size bytes at off in the skb (size a constant), or NULL
 * when the skb is shorter: exactly where bpf_skb_load_bytes fails.
 *
 * In the linear part (every header of nearly every packet) the pointer is
 * into the packet. Beyond it (a driver that leaves headers in page
 * fragments, a packet socket's frames larger than a page on a veth) the
 * bytes are copied into buf, which must hold size bytes, and the pointer
 * is buf. A copy rather than bpf_skb_pull_data: the decision stays the
 * same in every case (a pull can fail for want of memory, and it
 * unclones and moves the packet the stack and the taps share), the
 * callers keep one parser, and only such rare skbs pay the old per-field
 * helper calls.
 */
static __always_inline const void *fp_hdr(struct __sk_buff *skb, __u32 off, __u32 size, void *buf)
{
	void *data_end = (void *)(long)skb->data_end;
	void *p = (void *)(long)skb->data;

	if (off <= FP_MAX_OFF) {
		p += off;
		/* Keep p a pointer: clang would otherwise compare zero-extended
		 * 32-bit values, which the verifier cannot follow. */
		barrier_var(p);
		if (p + size <= data_end)
			return p;
	}
	return bpf_skb_load_bytes(skb, off, buf, size) ? NULL : buf;
}

#endif /* XDPFWD_FASTPATH_SKB_H */
