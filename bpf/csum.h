/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * csum.h: incremental Internet checksum updates (RFC 1624, eqn. 3):
 *   HC' = ~(~HC + ~m + m')
 * Values are summed as raw 16-bit words in network order; the one's
 * complement sum is byte-order independent, so nothing is swapped.
 */
#ifndef XDPFWD_CSUM_H
#define XDPFWD_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* Start an update: the complement of the old checksum. */
static __always_inline __u32 csum_begin(__sum16 check)
{
	return (__u16)~check;
}

/* Account for a 16-bit field changing from old to new. */
static __always_inline __u32 csum_sub_add16(__u32 sum, __u16 old, __u16 new)
{
	return sum + (__u16)~old + new;
}

/* Account for a 32-bit field changing from old to new. */
static __always_inline __u32 csum_sub_add32(__u32 sum, __u32 old, __u32 new)
{
	sum = csum_sub_add16(sum, old >> 16, new >> 16);
	return csum_sub_add16(sum, old & 0xffff, new & 0xffff);
}

/* Fold a running sum to 16 bits without complementing it. */
static __always_inline __u32 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	return (sum & 0xffff) + (sum >> 16);
}

/* Fold the carries back in and complement: the new checksum. */
static __always_inline __sum16 csum_finish(__u32 sum)
{
	/* Two folds suffice: at most a few dozen 16-bit words were summed. */
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__sum16)~sum;
}

#endif /* XDPFWD_CSUM_H */
