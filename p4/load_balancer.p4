/* P4ContainerFlow load balancer: L3 forwarding, VIP load balancing over an ActionSelector
 * and source rewrite of the replies, for TNA (Tofino 1), T2NA (Tofino 2) and T3NA (Tofino 3).
 * Everything happens in ingress; egress is bypassed. */
#include <core.p4>
#if __TARGET_TOFINO__ == 3
#include <t3na.p4>
#elif __TARGET_TOFINO__ == 2
#include <t2na.p4>
#else
#include <tna.p4>
#endif

#include "common/headers.p4"
#include "common/util.p4"

/* ------------------------------------------------------------------------------------------ */
parser SwitchIngressParser(
        packet_in pkt,
        out header_t hdr,
        out metadata_t meta,
        out ingress_intrinsic_metadata_t ig_intr_md) {

    TofinoIngressParser() tofino_parser;
    Checksum() ipv4_checksum;
    Checksum() tcp_checksum;

    state start {
        tofino_parser.apply(pkt, ig_intr_md);
        meta.is_lb_packet = false;
        meta.checksum_err_ipv4_igprs = false;
        meta.checksum_tcp_tmp = 0;
        meta.checksum_upd_ipv4 = false;
        meta.checksum_upd_tcp = false;
        transition parse_ethernet;
    }

    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4 : parse_ipv4;
            ETHERTYPE_ARP  : parse_arp;
            default        : accept;
        }
    }

    state parse_arp {
        pkt.extract(hdr.arp);
        transition accept;
    }

    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        ipv4_checksum.add(hdr.ipv4);
        meta.checksum_err_ipv4_igprs = ipv4_checksum.verify();
        /* The addresses may be rewritten in ingress: take them out of the TCP checksum here,
         * the deparser adds the new values back. */
        tcp_checksum.subtract({hdr.ipv4.src_addr, hdr.ipv4.dst_addr});
        transition select(hdr.ipv4.protocol) {
            IP_PROTOCOLS_TCP : parse_tcp;
            default          : accept;
        }
    }

    state parse_tcp {
        pkt.extract(hdr.tcp);
        tcp_checksum.subtract({hdr.tcp.checksum});
        tcp_checksum.subtract_all_and_deposit(meta.checksum_tcp_tmp);
        transition accept;
    }
}

/* ------------------------------------------------------------------------------------------ */
control SwitchIngress(
        inout header_t hdr,
        inout metadata_t meta,
        in ingress_intrinsic_metadata_t ig_intr_md,
        in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
        inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {

    Hash<bit<16>>(HashAlgorithm_t.CRC16) sel_hash;
    /* Unlike the original P4ContainerFlow program, node_selector lists no NoAction, so the
     * profile holds set_rewrite_dst only: every member is a backend address, and a VIP without
     * an entry is simply not rewritten (the table's implicit NoAction default). */
    ActionProfile(4) action_selector_ap;
    ActionSelector(action_selector_ap, sel_hash, SelectorMode_t.FAIR, 4, 1) action_selector;

    action drop() {
        ig_dprsr_md.drop_ctl = 0x1;
    }

    action bypass_egress() {
        ig_tm_md.bypass_egress = 1w1;
    }

    action set_rewrite_dst(ipv4_addr_t new_dst) {
        hdr.ipv4.dst_addr = new_dst;
        meta.is_lb_packet = true;
        meta.checksum_upd_ipv4 = true;
        meta.checksum_upd_tcp = true;
    }

    action set_rewrite_src(ipv4_addr_t new_src) {
        hdr.ipv4.src_addr = new_src;
        meta.checksum_upd_ipv4 = true;
        meta.checksum_upd_tcp = true;
    }

    action set_egress_port(PortId_t port) {
        ig_tm_md.ucast_egress_port = port;
    }

    action set_egress_port_with_mac(PortId_t port, mac_addr_t dst_mac) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.dst_addr = dst_mac;
    }

    /* The VIP is the exact key; the 5-tuple feeds the selector hash, so every packet of a
     * connection lands on the same member. */
    table node_selector {
        key = {
            hdr.ipv4.dst_addr : exact;
            hdr.ipv4.src_addr : selector;
            hdr.ipv4.dst_addr : selector;
            hdr.ipv4.protocol : selector;
            hdr.tcp.src_port  : selector;
            hdr.tcp.dst_port  : selector;
        }
        actions = {
            set_rewrite_dst;
        }
        size = 1024;
        implementation = action_selector;
    }

    /* The original used NoAction defaults; here forward and arp_forward drop on a miss, and the
     * default is const: on Tofino a packet without ucast_egress_port is dropped by the TM
     * anyway, the explicit drop makes the intent visible (drop_ctl, counters) and no controller
     * can turn a miss into forwarding. The switch model serves these defaults (defaults.ts). */
    table forward {
        key = {
            hdr.ipv4.dst_addr : exact;
        }
        actions = {
            set_egress_port;
            set_egress_port_with_mac;
            @defaultonly drop;
        }
        size = 1024;
        const default_action = drop();
    }

    table client_snat {
        key = {
            hdr.tcp.src_port : exact;
        }
        actions = {
            set_rewrite_src;
            @defaultonly NoAction;
        }
        size = 1024;
        const default_action = NoAction();
    }

    /* One ARP entry per host, as in forward: sized like forward (the original had 64, which
     * capped the hosts at 64 while forward took 1024). */
    table arp_forward {
        key = {
            hdr.arp.target_proto_addr : exact;
        }
        actions = {
            set_egress_port;
            @defaultonly drop;
        }
        size = 1024;
        const default_action = drop();
    }

    apply {
        if (hdr.arp.isValid()) {
            arp_forward.apply();
            bypass_egress();
            return;
        }

        if (!hdr.ipv4.isValid() || hdr.ipv4.ttl < 1) {
            drop();
            return;
        }

        node_selector.apply();
        if (!meta.is_lb_packet) {
            client_snat.apply();
        }
        forward.apply();

        /* Tag rather than drop, so bad packets are easy to find in a capture. */
        if (meta.checksum_err_ipv4_igprs) {
            hdr.ethernet.dst_addr = 0x0000deadbeef;
        }

        bypass_egress();
    }
}

/* ------------------------------------------------------------------------------------------ */
control SwitchIngressDeparser(
        packet_out pkt,
        inout header_t hdr,
        in metadata_t meta,
        in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {

    Checksum() ipv4_checksum;
    Checksum() tcp_checksum;

    apply {
        if (meta.checksum_upd_ipv4) {
            hdr.ipv4.hdr_checksum = ipv4_checksum.update({
                hdr.ipv4.version,
                hdr.ipv4.ihl,
                hdr.ipv4.diffserv,
                hdr.ipv4.total_len,
                hdr.ipv4.identification,
                hdr.ipv4.flags,
                hdr.ipv4.frag_offset,
                hdr.ipv4.ttl,
                hdr.ipv4.protocol,
                hdr.ipv4.src_addr,
                hdr.ipv4.dst_addr});
        }
        if (meta.checksum_upd_tcp) {
            hdr.tcp.checksum = tcp_checksum.update({
                hdr.ipv4.src_addr,
                hdr.ipv4.dst_addr,
                meta.checksum_tcp_tmp});
        }
        pkt.emit(hdr);
    }
}

/* ------------------------------------------------------------------------------------------ */
Pipeline(SwitchIngressParser(),
         SwitchIngress(),
         SwitchIngressDeparser(),
         EmptyEgressParser(),
         EmptyEgress(),
         EmptyEgressDeparser()) pipe;

Switch(pipe) main;
