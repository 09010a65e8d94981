import CXDP
import Foundation
import XDPLoader

/// A userspace peer of `bench topo` (the UDP relay, the AF_PACKET floor):
/// a C loop on its own thread, which enters the forwarder namespace, pins
/// itself to the forwarder CPU, sets up (`setUp`, whose errors reach the
/// caller), and loops until `stop`. The thread id is for CPU accounting.
final class BenchLoopThread: @unchecked Sendable {
    /// Shared with the C loop for its whole run: raw memory, not properties
    /// (an inout access would last the whole loop).
    let stopFlag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    let counter = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    private(set) var tid: Int32 = 0
    private var error: String?
    private let ready = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// `setUp` runs in the namespace on the pinned thread and returns the
    /// loop: it is handed `stopFlag` and `counter` and returns when the
    /// flag is set (throwing if the loop itself fails).
    init(name: String, namespace: NetworkNamespace, cpu: Int,
         setUp: @escaping @Sendable () throws -> ((UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UInt64>) throws -> Void)) throws {
        stopFlag.pointee = 0
        counter.pointee = 0
        let thread = Thread { [self] in
            defer { done.signal() }
            do {
                try namespace.enter {
                    tid = cxdp_gettid()
                    try check(cxdp_pin_task(tid, Int32(cpu)), "sched_setaffinity", name)
                    let loop = try setUp()
                    ready.signal()
                    try loop(stopFlag, counter)
                }
            } catch {
                self.error = "\(error)"
                ready.signal()
            }
        }
        thread.start()
        ready.wait()
        if let error {
            done.wait()
            throw XDPFwdError.state("\(name): \(error)")
        }
    }

    func stop() {
        stopFlag.pointee = 1
        done.wait()
    }

    deinit {
        stopFlag.deallocate()
        counter.deallocate()
    }
}
