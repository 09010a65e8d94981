/* vlan_links.c: list the kernel's VLAN devices over rtnetlink (RTM_GETLINK
 * dump), for attach to describe VLAN uppers to the data plane. See
 * include/cxdp.h for the conventions. */
#include "cxdp.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>

#ifndef NLA_ALIGN
#define NLA_ALIGN(len) (((len) + 3) & ~3)
#endif

/* Walk the attributes in [attr, attr + len). */
#define for_each_rta(rta, start, len) \
	for (struct rtattr *rta = (start); RTA_OK(rta, (len)); rta = RTA_NEXT(rta, (len)))

/* IFLA_VLAN_EGRESS_QOS: the PCP the device puts on skbs of priority 0. */
static uint8_t egress_pcp_of_priority0(struct rtattr *qos)
{
	int len = RTA_PAYLOAD(qos);
	for_each_rta(m, (struct rtattr *)RTA_DATA(qos), len) {
		if (m->rta_type != IFLA_VLAN_QOS_MAPPING ||
		    RTA_PAYLOAD(m) < sizeof(struct ifla_vlan_qos_mapping))
			continue;
		struct ifla_vlan_qos_mapping *map = RTA_DATA(m);
		if (map->from == 0)
			return (uint8_t)(map->to & 7);
	}
	return 0;
}

/* One RTM_NEWLINK message: fill *out and return 1 if it is a VLAN with a
 * VLAN id (a message without one is not a device we can tag for). */
static int parse_link(struct nlmsghdr *nh, struct cxdp_vlan_link *out)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
	int is_vlan = 0, has_id = 0;

	if (len < 0)
		return 0;
	memset(out, 0, sizeof(*out));
	out->ifindex = (uint32_t)ifi->ifi_index;
	for_each_rta(a, IFLA_RTA(ifi), len) {
		if (a->rta_type == IFLA_LINK && RTA_PAYLOAD(a) >= 4) {
			memcpy(&out->lower_ifindex, RTA_DATA(a), 4);
		} else if (a->rta_type == IFLA_LINKINFO) {
			int ilen = RTA_PAYLOAD(a);
			for_each_rta(i, (struct rtattr *)RTA_DATA(a), ilen) {
				/* The kernel puts the kind with its NUL ("vlan\0"). */
				if (i->rta_type == IFLA_INFO_KIND)
					is_vlan = RTA_PAYLOAD(i) >= 5 && memcmp(RTA_DATA(i), "vlan", 5) == 0;
				if (i->rta_type != IFLA_INFO_DATA)
					continue;
				int dlen = RTA_PAYLOAD(i);
				for_each_rta(d, (struct rtattr *)RTA_DATA(i), dlen) {
					if (d->rta_type == IFLA_VLAN_ID && RTA_PAYLOAD(d) >= 2) {
						memcpy(&out->vlan_id, RTA_DATA(d), 2);
						has_id = out->vlan_id < 4095;
					}
					else if (d->rta_type == IFLA_VLAN_PROTOCOL && RTA_PAYLOAD(d) >= 2)
						memcpy(&out->proto_be, RTA_DATA(d), 2);
					else if (d->rta_type == IFLA_VLAN_EGRESS_QOS)
						out->pcp = egress_pcp_of_priority0(d);
				}
			}
		}
	}
	return is_vlan && has_id;
}

int cxdp_vlan_links_parse(const void *buf, int len, struct cxdp_vlan_link *out,
			  int capacity, int *count)
{
	int left = len;

	if (len < 0 || *count < 0 || *count > capacity)
		return -EINVAL;
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, left);
	     nh = NLMSG_NEXT(nh, left)) {
		if (nh->nlmsg_type == NLMSG_DONE)
			return 1;
		if (nh->nlmsg_type == NLMSG_ERROR) {
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
				return -EIO;
			struct nlmsgerr *e = NLMSG_DATA(nh);
			return e->error < 0 ? e->error : -EIO;
		}
		if (nh->nlmsg_type != RTM_NEWLINK ||
		    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
			continue;
		struct cxdp_vlan_link link;
		if (parse_link(nh, &link)) {
			if (*count >= capacity)
				return -ENOSPC;
			out[(*count)++] = link;
		}
	}
	return 0;
}

int cxdp_vlan_links(struct cxdp_vlan_link *out, int capacity)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req;
	static __thread char buf[64 * 1024];
	int fd, count = 0, done = 0, err = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.ifi.ifi_family = AF_UNSPEC;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	while (!done) {
		ssize_t n;
		do {
			n = recv(fd, buf, sizeof(buf), 0);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		int rc = cxdp_vlan_links_parse(buf, (int)n, out, capacity, &count);
		if (rc < 0)
			err = rc;
		if (rc != 0)
			done = 1;
	}
	close(fd);
	return err ? err : count;
}
