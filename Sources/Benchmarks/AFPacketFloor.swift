import CXDP
import FastPath
import Foundation
import Packets
import XDPLoader

/// The AF_PACKET floor of `bench topo`: FastPath's rings, geometry and
/// batching in C with a fixed full-NAT rewrite (cxdp_afp_floor_run in
/// Sources/CXDP/bench_afp_floor.c), and the least TC classifier that keeps
/// the stack off those packets (xfb_tc_drop_udp4). Its CPU per packet is
/// what AF_PACKET itself costs here; FastPath's excess over it is the cost
/// of its lookups, conntrack and Swift.
enum AFPacketFloor {
    /// Runs in the forwarder namespace; returns the loop thread and undoes
    /// (the classifier) in `undo`.
    static func start(_ topo: Topology, cpu: Int, sendmmsg: Bool, undo: inout [() -> Void]) throws -> BenchLoopThread {
        let object = try BenchObject()
        let program = try object.program("xfb_tc_drop_udp4")
        let (inIndex, outIndex) = try topo.fwd.enter { (try Interface.named(topo.f0).ifindex, try Interface.named(topo.f1).ifindex) }
        var createdHook: Int32 = 0
        try topo.fwd.enter { _ = try check(cxdp_tc_ingress_attach(Int32(inIndex), program.raw, &createdHook),
                                           "bpf_tc_attach", "\(topo.f0) ingress") }
        let destroy = createdHook
        undo.append { _ = try? topo.fwd.enter { _ = cxdp_tc_ingress_detach(Int32(inIndex), destroy) }; withExtendedLifetime(object) {} }
        var config = floorConfig(inIndex, outIndex)
        config.tx_sendmmsg = sendmmsg ? 1 : 0
        let fixedConfig = config
        return try BenchLoopThread(name: "AF_PACKET floor", namespace: topo.fwd, cpu: cpu) {
            let floor = UnsafeMutablePointer<cxdp_afp_floor>.allocate(capacity: 1)
            var cfg = fixedConfig
            let rc = cxdp_afp_floor_open(&cfg, floor)
            if rc < 0 {
                floor.deallocate()
                throw XDPFwdError.syscall(SyscallError("AF_PACKET ring set-up", "\(topo.f0) -> \(topo.f1)", errno: -rc))
            }
            return { stop, forwarded in
                cxdp_afp_floor_run(floor, stop, forwarded)
                cxdp_afp_floor_close(floor)
                floor.deallocate()
            }
        }
    }

    /// FastPath's default geometry, the rule of every bench row (listen
    /// 198.18.0.1:5000 to 198.18.1.2:6000), translated as xdpfwd's full NAT
    /// does (source 198.18.1.1, one fixed port: there is one flow).
    private static func floorConfig(_ inIndex: UInt32, _ outIndex: UInt32) -> cxdp_afp_floor_cfg {
        let ring = RingGeometry()
        var cfg = cxdp_afp_floor_cfg()
        cfg.in_ifindex = Int32(inIndex)
        cfg.out_ifindex = Int32(outIndex)
        cfg.block_size = ring.blockSize
        cfg.block_count = ring.blockCount
        cfg.frame_size = ring.frameSize
        cfg.retire_ms = ring.retireMs
        cfg.tx_block_size = ring.txBlockSize
        cfg.tx_block_count = ring.txBlockCount
        cfg.tx_frame_size = ring.txFrameSize
        cfg.tx_batch = ring.txBatch
        withUnsafeMutableBytes(of: &cfg.src_mac) { $0.copyBytes(from: Topology.f1MAC.bytes) }
        withUnsafeMutableBytes(of: &cfg.dst_mac) { $0.copyBytes(from: Topology.s0MAC.bytes) }
        cfg.listen_addr = ForwarderCase.listen.address.value.bigEndian
        cfg.listen_port = ForwarderCase.listen.port.bigEndian
        cfg.source_addr = Packet.Address("198.18.1.1").value.bigEndian
        cfg.source_port = UInt16(40000).bigEndian
        cfg.backend_addr = ForwarderCase.backend.address.value.bigEndian
        cfg.backend_port = ForwarderCase.backend.port.bigEndian
        return cfg
    }
}
