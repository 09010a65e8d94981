import CXDP
import Foundation
import Packets
import XDPLoader

/// The userspace peer of `bench topo`: a UDP relay standing for
/// socat/realm-style forwarders, one thread, recvmmsg/sendmmsg 64 at a time
/// (the loop is cxdp_udp_relay in Sources/CXDP/bench.c).
enum UDPRelay {
    static func start(namespace: NetworkNamespace, listen: Packet.Endpoint, backend: Packet.Endpoint, cpu: Int) throws -> BenchLoopThread {
        try BenchLoopThread(name: "UDP relay", namespace: namespace, cpu: cpu) {
            let input = try check(cxdp_udp_socket(listen.address.value.bigEndian, listen.port.bigEndian, 0, 0, 8 << 20),
                                  "socket/bind", listen.description)
            let output: Int32
            do {
                output = try check(cxdp_udp_socket(UInt32(0xC612_0101).bigEndian, 0, backend.address.value.bigEndian,
                                                   backend.port.bigEndian, 0), "socket/connect", backend.description)
            } catch {
                close(input)
                throw error
            }
            return { stop, relayed in
                defer { close(input); close(output) }
                try check(cxdp_udp_relay(input, output, 64, stop, relayed), "recvmmsg/sendmmsg", "relay")
            }
        }
    }
}
