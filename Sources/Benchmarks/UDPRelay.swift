import CXDP
import Foundation
import Packets
import XDPLoader

/// The userspace peer of `bench topo`: a UDP relay standing for
/// socat/realm-style forwarders, one thread, recvmmsg/sendmmsg 64 at a time
/// (the loop is cxdp_udp_relay in Sources/CXDP/bench.c). The thread enters
/// the forwarder namespace, pins itself, and relays until `stop`.
final class UDPRelay: @unchecked Sendable {
    private let thread: Thread
    private let state = State()
    let tid: Int32

    final class State: @unchecked Sendable {
        // Shared with the C loop for its whole run: raw memory, not
        // properties (an inout access would last the whole loop).
        let stop = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        let relayed = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        init() { stop.pointee = 0; relayed.pointee = 0 }
        deinit { stop.deallocate(); relayed.deallocate() }
        var tid: Int32 = 0
        var error: String?
        let ready = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
    }

    init(namespace: NetworkNamespace, listen: Packet.Endpoint, backend: Packet.Endpoint, cpu: Int) throws {
        let state = self.state
        thread = Thread {
            defer { state.done.signal() }
            do {
                try namespace.enter {
                    state.tid = cxdp_gettid()
                    try check(cxdp_pin_task(state.tid, Int32(cpu)), "sched_setaffinity", "relay")
                    let input = try check(cxdp_udp_socket(listen.address.value.bigEndian, listen.port.bigEndian, 0, 0, 8 << 20),
                                          "socket/bind", listen.description)
                    defer { close(input) }
                    let output = try check(cxdp_udp_socket(UInt32(0xC612_0101).bigEndian, 0, backend.address.value.bigEndian,
                                                           backend.port.bigEndian, 0), "socket/connect", backend.description)
                    defer { close(output) }
                    state.ready.signal()
                    try check(cxdp_udp_relay(input, output, 64, state.stop, state.relayed), "recvmmsg/sendmmsg", "relay")
                }
            } catch {
                state.error = "\(error)"
                state.ready.signal()
            }
        }
        thread.start()
        state.ready.wait()
        if let error = state.error { throw XDPFwdError.state("UDP relay: \(error)") }
        tid = state.tid
    }

    func stop() {
        state.stop.pointee = 1
        state.done.wait()
    }
}
